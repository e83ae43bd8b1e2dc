//! The validated GGUF reader. Parsing walks a bounds-checked cursor over the file bytes; tensor
//! data is never copied: [`GgufFile::tensor_data`] returns a slice of the mapping.

use crate::error::GgufError;
use crate::types::GgmlType;
use crate::value::{Array, Value, ValueType};
use crate::{DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};
use std::collections::HashMap;
use std::path::Path;

/// The bytes behind a file: a read-only mapping, or an owned buffer (tests, in-memory files).
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// Dimensions in ggml order: `dims[0]` (ne0) is the row length, contiguous in memory.
    pub dims: Vec<u64>,
    /// Offset from the start of the data section.
    pub offset: u64,
    /// Bytes of data, computed from the type and dims.
    pub size: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Length of one row (ne0).
    pub fn row_len(&self) -> usize {
        self.dims[0] as usize
    }
    /// Number of rows: the product of every dimension but the first.
    pub fn n_rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }
}

/// An open, validated GGUF file.
pub struct GgufFile {
    storage: Storage,
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    key_index: HashMap<String, usize>,
    tensor_index: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Map `path` read-only and validate it.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory")));
        }
        // SAFETY: the mapping is read-only and private to this process. Another process
        // truncating or rewriting the file while it is mapped is outside what any mmap-based
        // reader (llama.cpp included) can defend against; we document that models must not be
        // modified while in use.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        GgufFile::parse(Storage::Mapped(mmap))
    }

    /// Validate a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        GgufFile::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<GgufFile, GgufError> {
        let (version, metadata, tensors, alignment, data_offset) = {
            let mut c = Cursor { bytes: storage.bytes(), pos: 0 };
            let magic = c.take(4, "magic")?;
            if magic != GGUF_MAGIC {
                return Err(GgufError::BadMagic { found: magic.try_into().unwrap_or([0; 4]) });
            }
            let version = c.u32("version")?;
            if version != 2 && version != 3 {
                return Err(GgufError::UnsupportedVersion { version });
            }
            let n_tensors_at = c.pos;
            let n_tensors = c.u64("tensor_count")?;
            // Each tensor entry needs at least 8 (name len) + 4 (n_dims) + 8 (one dim) + 4 + 8 bytes.
            c.check_count(n_tensors, 32, "tensor_count", n_tensors_at)?;
            let n_kv_at = c.pos;
            let n_kv = c.u64("metadata_kv_count")?;
            c.check_count(n_kv, 8 + 4 + 1, "metadata_kv_count", n_kv_at)?;

            let mut metadata = Vec::with_capacity(n_kv as usize);
            let mut key_index = HashMap::with_capacity(n_kv as usize);
            let mut alignment = DEFAULT_ALIGNMENT;
            for i in 0..n_kv {
                let key_at = c.pos;
                let key = c.string(&format!("metadata[{i}].key"))?;
                let type_at = c.pos;
                let type_id = c.u32(&format!("metadata {key:?} type"))?;
                let vt = ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
                    field: format!("metadata {key:?}"),
                    offset: type_at as u64,
                    type_id,
                })?;
                let value = c.value(vt, &key, 0)?;
                if key == "general.alignment" {
                    let a = value.as_u64().unwrap_or(0);
                    if a == 0 || !a.is_power_of_two() {
                        return Err(GgufError::BadAlignment { value: a, offset: type_at as u64 + 4 });
                    }
                    alignment = a;
                }
                if key_index.insert(key.clone(), metadata.len()).is_some() {
                    return Err(GgufError::DuplicateKey { key, offset: key_at as u64 });
                }
                metadata.push((key, value));
            }

            let mut tensors = Vec::with_capacity(n_tensors as usize);
            let mut names = std::collections::HashSet::with_capacity(n_tensors as usize);
            for i in 0..n_tensors {
                let at = c.pos as u64;
                let t = c.tensor_info(i)?;
                if !names.insert(t.name.clone()) {
                    return Err(GgufError::DuplicateTensor { name: t.name, offset: at });
                }
                tensors.push(t);
            }
            let data_offset = align_up(c.pos as u64, alignment).ok_or(GgufError::SizeOverflow {
                name: "<data section>".into(),
                offset: c.pos as u64,
            })?;
            (version, metadata, tensors, alignment, data_offset)
        };

        let file_len = storage.bytes().len() as u64;
        let data_len = file_len.saturating_sub(data_offset);
        if !tensors.is_empty() && data_offset > file_len {
            return Err(GgufError::Truncated {
                field: "data section".into(),
                offset: data_offset,
                needed: 0,
                file_len,
            });
        }
        validate_tensor_placement(&tensors, alignment, data_len)?;

        let key_index = metadata.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let tensor_index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(GgufFile { storage, version, metadata, tensors, alignment, data_offset, key_index, tensor_index })
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw bytes of a tensor of this file, zero-copy. Bounds were validated at open.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_offset + t.offset) as usize;
        &self.bytes()[start..start + t.size as usize]
    }

    // Typed getters. Missing keys and wrong types are errors naming the key.

    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.require(key)?;
        v.as_u64().ok_or_else(|| wrong_type(key, "unsigned integer", v))
    }

    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        let v = self.require(key)?;
        v.as_u64().and_then(|x| u32::try_from(x).ok()).ok_or_else(|| wrong_type(key, "u32", v))
    }

    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.require(key)?;
        v.as_f64().map(|x| x as f32).ok_or_else(|| wrong_type(key, "number", v))
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| wrong_type(key, "bool", v))
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong_type(key, "string", v))
    }

    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| wrong_type(key, "array", v))
    }

    fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey { key: key.to_string() })
    }
}

fn wrong_type(key: &str, expected: &'static str, v: &Value) -> GgufError {
    GgufError::WrongType { key: key.to_string(), expected, found: v.type_name() }
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|y| y / a * a)
}

/// Every tensor aligned, inside the data section, and no two overlapping.
fn validate_tensor_placement(tensors: &[TensorInfo], alignment: u64, data_len: u64) -> Result<(), GgufError> {
    for t in tensors {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor { name: t.name.clone(), data_offset: t.offset, alignment });
        }
        let end = t.offset.checked_add(t.size);
        if end.is_none_or(|e| e > data_len) {
            return Err(GgufError::TensorOutOfBounds {
                name: t.name.clone(),
                data_offset: t.offset,
                size: t.size,
                data_len,
            });
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for w in order.windows(2) {
        if w[0].offset + w[0].size > w[1].offset && w[0].size > 0 {
            return Err(GgufError::OverlappingTensors { first: w[0].name.clone(), second: w[1].name.clone() });
        }
    }
    Ok(())
}

/// A read position over the file; every read checks the bytes exist first.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Arrays nested deeper than this (an array of scalars is 1 deep) are rejected; real files use
/// at most 2 levels.
pub(crate) const MAX_ARRAY_DEPTH: usize = 8;

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], GgufError> {
        if (n as u64) > self.remaining() {
            return Err(GgufError::Truncated {
                field: field.to_string(),
                offset: self.pos as u64,
                needed: n as u64,
                file_len: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], GgufError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, field: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Reject a count whose entries, at `min_size` bytes each, cannot fit in what is left.
    /// This bounds every allocation by the file size.
    fn check_count(&self, count: u64, min_size: u64, field: &str, offset: usize) -> Result<(), GgufError> {
        if count.checked_mul(min_size).is_none_or(|need| need > self.remaining()) {
            return Err(GgufError::CountTooLarge {
                field: field.to_string(),
                offset: offset as u64,
                count,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn string(&mut self, field: &str) -> Result<String, GgufError> {
        let at = self.pos;
        let len = self.u64(field)?;
        if len > self.remaining() {
            return Err(GgufError::Truncated {
                field: field.to_string(),
                offset: at as u64,
                needed: len.saturating_add(8),
                file_len: self.bytes.len() as u64,
            });
        }
        let s = self.take(len as usize, field)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(GgufError::InvalidUtf8 { field: field.to_string(), offset: at as u64 }),
        }
    }

    fn value(&mut self, vt: ValueType, key: &str, depth: usize) -> Result<Value, GgufError> {
        let f = || format!("metadata {key:?} value");
        Ok(match vt {
            ValueType::U8 => Value::U8(self.array::<1>(&f())?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(&f())?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(&f())?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(&f())?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.array(&f())?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(&f())?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(&f())?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.array(&f())?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(&f())?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(&f())?)),
            // ggml accepts any non-zero byte as true; so do we.
            ValueType::Bool => Value::Bool(self.array::<1>(&f())?[0] != 0),
            ValueType::String => Value::String(self.string(&f())?),
            ValueType::Array => Value::Array(self.array_value(key, depth)?),
        })
    }

    fn array_value(&mut self, key: &str, depth: usize) -> Result<Array, GgufError> {
        let field = format!("metadata {key:?} array");
        let at = self.pos;
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::NestedTooDeep { field, offset: at as u64, max: MAX_ARRAY_DEPTH });
        }
        let type_id = self.u32(&field)?;
        let et = ValueType::from_id(type_id)
            .ok_or(GgufError::UnknownValueType { field: field.clone(), offset: at as u64, type_id })?;
        let count_at = self.pos;
        let n = self.u64(&field)?;
        self.check_count(n, et.min_size(), &field, count_at)?;
        let n = n as usize;
        macro_rules! scalars {
            ($variant:ident, $t:ty, $size:expr) => {{
                let raw = self.take(n * $size, &field)?;
                Array::$variant(raw.chunks_exact($size).map(|c| <$t>::from_le_bytes(c.try_into().unwrap())).collect())
            }};
        }
        Ok(match et {
            ValueType::U8 => Array::U8(self.take(n, &field)?.to_vec()),
            ValueType::I8 => Array::I8(self.take(n, &field)?.iter().map(|&b| b as i8).collect()),
            ValueType::Bool => Array::Bool(self.take(n, &field)?.iter().map(|&b| b != 0).collect()),
            ValueType::U16 => scalars!(U16, u16, 2),
            ValueType::I16 => scalars!(I16, i16, 2),
            ValueType::U32 => scalars!(U32, u32, 4),
            ValueType::I32 => scalars!(I32, i32, 4),
            ValueType::F32 => scalars!(F32, f32, 4),
            ValueType::U64 => scalars!(U64, u64, 8),
            ValueType::I64 => scalars!(I64, i64, 8),
            ValueType::F64 => scalars!(F64, f64, 8),
            ValueType::String => {
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    v.push(self.string(&format!("{field}[{i}]"))?);
                }
                Array::String(v)
            }
            ValueType::Array => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array_value(key, depth + 1)?);
                }
                Array::Array(v)
            }
        })
    }

    fn tensor_info(&mut self, index: u64) -> Result<TensorInfo, GgufError> {
        let name = self.string(&format!("tensor[{index}].name"))?;
        let n_dims_at = self.pos as u64;
        let n_dims = self.u32(&format!("tensor {name:?} n_dims"))?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(GgufError::BadDimCount { name, offset: n_dims_at, n_dims });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for i in 0..n_dims as usize {
            let dim_at = self.pos as u64;
            let d = self.u64(&format!("tensor {name:?} dim {i}"))?;
            if d == 0 {
                return Err(GgufError::ZeroDim { name, offset: dim_at, index: i, value: d });
            }
            dims.push(d);
        }
        let type_at = self.pos as u64;
        let type_id = self.u32(&format!("tensor {name:?} type"))?;
        let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
            name: name.clone(),
            offset: type_at,
            type_id,
        })?;
        let offset = self.u64(&format!("tensor {name:?} offset"))?;
        let overflow = || GgufError::SizeOverflow { name: name.clone(), offset: n_dims_at + 4 };
        let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
        // Elements must stay addressable as i64 (ggml's int64_t ne) and usize on this machine.
        if n_elements > i64::MAX as u64 || usize::try_from(n_elements).is_err() {
            return Err(overflow());
        }
        if dims[0] % ty.block_size() as u64 != 0 {
            return Err(GgufError::RowNotBlockMultiple { name, ty, ne0: dims[0], block_size: ty.block_size() });
        }
        let size = (n_elements / ty.block_size() as u64)
            .checked_mul(ty.type_size() as u64)
            .ok_or_else(overflow)?;
        Ok(TensorInfo { name, ty, dims, offset, size })
    }
}
