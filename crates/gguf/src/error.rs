use std::path::PathBuf;

/// Everything that can be wrong with a GGUF file. Each variant names the field and byte offset.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("not a GGUF file: magic is {found:?} at offset 0, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {version} at offset 4 (this reader knows versions 2 and 3)")]
    UnsupportedVersion { version: u32 },
    #[error("file truncated: {field} at offset {offset} needs {needed} bytes, but the file ends at {file_len}")]
    Truncated { field: String, offset: u64, needed: u64, file_len: u64 },
    #[error("{field} at offset {offset} claims {count} entries, more than the {remaining} bytes left in the file can hold")]
    CountTooLarge { field: String, offset: u64, count: u64, remaining: u64 },
    #[error("{field} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 { field: String, offset: u64 },
    #[error("{field} at offset {offset} has unknown metadata value type {type_id}")]
    UnknownValueType { field: String, offset: u64, type_id: u32 },
    #[error("{field} at offset {offset} nests arrays more than {max} deep")]
    NestedTooDeep { field: String, offset: u64, max: usize },
    #[error("metadata key {key:?} at offset {offset} appears twice")]
    DuplicateKey { key: String, offset: u64 },
    #[error("general.alignment at offset {offset} is {value}; it must be a non-zero power of two")]
    BadAlignment { value: u64, offset: u64 },
    #[error("tensor {name:?} at offset {offset} has unknown type id {type_id}")]
    UnknownTensorType { name: String, offset: u64, type_id: u32 },
    #[error("tensor {name:?} at offset {offset} has {n_dims} dimensions; 1 to 4 are allowed")]
    BadDimCount { name: String, offset: u64, n_dims: u32 },
    #[error("tensor {name:?} at offset {offset}: dimension {index} is {value}; dimensions must be > 0")]
    ZeroDim { name: String, offset: u64, index: usize, value: u64 },
    #[error("tensor {name:?} at offset {offset}: element count or byte size overflows")]
    SizeOverflow { name: String, offset: u64 },
    #[error("tensor {name:?}: row length {ne0} is not a multiple of the {ty} block size {block_size}")]
    RowNotBlockMultiple { name: String, ty: crate::GgmlType, ne0: u64, block_size: usize },
    #[error("tensor {name:?} appears twice in the tensor table (second at offset {offset})")]
    DuplicateTensor { name: String, offset: u64 },
    #[error("tensor {name:?}: data offset {data_offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor { name: String, data_offset: u64, alignment: u64 },
    #[error("tensor {name:?}: {size} bytes at data offset {data_offset} run past the end of the data section ({data_len} bytes)")]
    TensorOutOfBounds { name: String, data_offset: u64, size: u64, data_len: u64 },
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    OverlappingTensors { first: String, second: String },
    #[error("metadata key {key:?} is missing")]
    MissingKey { key: String },
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: String },
}
