//! The GGUF v3 writer: metadata and tensors in, a file out, laid out as ggml lays it out.
//!
//! Tensors are placed in the order they were added, each at the next multiple of the
//! alignment (`general.alignment` if set, else 32) and followed by zero padding up to the next
//! multiple; the tensor table is padded the same way before the data section starts. Inputs are
//! checked before a byte is written: the writer only produces files the reader accepts.

use crate::types::GgmlType;
use crate::value::{Array, Value};
use crate::reader::MAX_ARRAY_DEPTH;
use crate::{GgufFile, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing GGUF: {0}")]
    Stream(#[from] std::io::Error),
    #[error("metadata key {0:?} is set twice")]
    DuplicateKey(String),
    #[error("metadata key {0:?}: arrays nested more than {MAX_ARRAY_DEPTH} deep")]
    TooDeep(String),
    #[error("tensor {0:?} is added twice")]
    DuplicateTensor(String),
    #[error("general.alignment is {0}; it must be an integer that is a non-zero power of two")]
    BadAlignment(String),
    #[error("tensor {name:?}: {n_dims} dimensions; 1 to 4 are allowed, each > 0")]
    BadDims { name: String, n_dims: usize },
    #[error("tensor {name:?}: shape {dims:?} is not a whole number of {ty} blocks, or too large")]
    BadShape { name: String, ty: GgmlType, dims: Vec<u64> },
    #[error("tensor {name:?}: {got} bytes of data, but a {ty} tensor of shape {dims:?} takes {want}")]
    DataSize { name: String, ty: GgmlType, dims: Vec<u64>, got: usize, want: u64 },
}

/// One tensor to write: its raw bytes, borrowed or owned.
#[derive(Clone, Debug)]
pub struct TensorSpec<'a> {
    pub name: String,
    pub ty: GgmlType,
    /// ggml order: `dims[0]` (ne0) is the row length.
    pub dims: Vec<u64>,
    pub data: Cow<'a, [u8]>,
}

/// A GGUF file being assembled.
#[derive(Clone, Debug, Default)]
pub struct GgufWriter<'a> {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorSpec<'a>>,
}

impl<'a> GgufWriter<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer holding `file`'s metadata (copied) and tensors (borrowed), in file order.
    pub fn from_file(file: &'a GgufFile) -> Self {
        let tensors = file
            .tensors
            .iter()
            .map(|t| TensorSpec {
                name: t.name.clone(),
                ty: t.ty,
                dims: t.dims.clone(),
                data: Cow::Borrowed(file.tensor_data(t)),
            })
            .collect();
        GgufWriter { metadata: file.metadata.clone(), tensors }
    }

    pub fn add_kv(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        dims: &[u64],
        data: impl Into<Cow<'a, [u8]>>,
    ) -> &mut Self {
        self.tensors.push(TensorSpec { name: name.into(), ty, dims: dims.to_vec(), data: data.into() });
        self
    }

    /// The alignment the file will use: `general.alignment` if set, else 32.
    pub fn alignment(&self) -> Result<u64, WriteError> {
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => Ok(a),
                _ => Err(WriteError::BadAlignment(format!("{v:?}"))),
            },
        }
    }

    /// Check everything a reader would check; returns the alignment and each tensor's offset
    /// in the data section.
    fn plan(&self) -> Result<(u64, Vec<u64>), WriteError> {
        let alignment = self.alignment()?;
        let mut keys = HashSet::new();
        for (k, v) in &self.metadata {
            if !keys.insert(k.as_str()) {
                return Err(WriteError::DuplicateKey(k.clone()));
            }
            if let Value::Array(a) = v {
                if array_depth(a) > MAX_ARRAY_DEPTH {
                    return Err(WriteError::TooDeep(k.clone()));
                }
            }
        }
        let mut names = HashSet::new();
        let mut offsets = Vec::with_capacity(self.tensors.len());
        let mut next = 0u64;
        for t in &self.tensors {
            if !names.insert(t.name.as_str()) {
                return Err(WriteError::DuplicateTensor(t.name.clone()));
            }
            let want = tensor_size(t)?;
            if t.data.len() as u64 != want {
                let (name, ty, dims, got) = (t.name.clone(), t.ty, t.dims.clone(), t.data.len());
                return Err(WriteError::DataSize { name, ty, dims, got, want });
            }
            offsets.push(next);
            next = align_up(next + want, alignment);
        }
        Ok((alignment, offsets))
    }

    /// Write the file to `out`; returns the number of bytes written.
    pub fn write_to(&self, out: &mut impl Write) -> Result<u64, WriteError> {
        let (alignment, offsets) = self.plan()?;
        let mut w = Counting { inner: out, written: 0 };
        w.put(&GGUF_MAGIC)?;
        w.put(&3u32.to_le_bytes())?;
        w.put(&(self.tensors.len() as u64).to_le_bytes())?;
        w.put(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in &self.metadata {
            w.string(key)?;
            w.put(&(value.value_type() as u32).to_le_bytes())?;
            w.value(value)?;
        }
        for (t, offset) in self.tensors.iter().zip(&offsets) {
            w.string(&t.name)?;
            w.put(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                w.put(&d.to_le_bytes())?;
            }
            w.put(&(t.ty as u32).to_le_bytes())?;
            w.put(&offset.to_le_bytes())?;
        }
        w.pad(alignment)?;
        for t in &self.tensors {
            w.put(&t.data)?;
            w.pad(alignment)?;
        }
        w.inner.flush()?;
        Ok(w.written)
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut v = Vec::new();
        self.write_to(&mut v)?;
        Ok(v)
    }

    /// Write the file at `path` (created or truncated).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<u64, WriteError> {
        let path = path.as_ref();
        let io = |source| WriteError::Io { path: path.to_path_buf(), source };
        self.plan()?; // no file is created for invalid input
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        match self.write_to(&mut out) {
            Err(WriteError::Stream(e)) => Err(io(e)),
            r => r,
        }
    }
}

/// Arrays nested in one value: 1 for an array of scalars.
fn array_depth(a: &Array) -> usize {
    match a {
        Array::Array(v) => 1 + v.iter().map(array_depth).max().unwrap_or(0),
        _ => 1,
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Bytes a tensor of this type and shape takes, checking the shape as the reader does.
fn tensor_size(t: &TensorSpec) -> Result<u64, WriteError> {
    if t.dims.is_empty() || t.dims.len() > MAX_DIMS || t.dims.contains(&0) {
        return Err(WriteError::BadDims { name: t.name.clone(), n_dims: t.dims.len() });
    }
    let bad = || WriteError::BadShape { name: t.name.clone(), ty: t.ty, dims: t.dims.clone() };
    let n = t.dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(bad)?;
    let block = t.ty.block_size() as u64;
    if n > i64::MAX as u64 || !t.dims[0].is_multiple_of(block) {
        return Err(bad());
    }
    (n / block).checked_mul(t.ty.type_size() as u64).ok_or_else(bad)
}

/// A writer that counts bytes, for padding.
struct Counting<'w, W: Write> {
    inner: &'w mut W,
    written: u64,
}

impl<W: Write> Counting<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, alignment: u64) -> std::io::Result<()> {
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut n = align_up(self.written, alignment) - self.written;
        while n > 0 {
            let k = n.min(ZEROS.len() as u64);
            self.put(&ZEROS[..k as usize])?;
            n -= k;
        }
        Ok(())
    }

    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.put(&(s.len() as u64).to_le_bytes())?;
        self.put(s.as_bytes())
    }

    fn value(&mut self, v: &Value) -> std::io::Result<()> {
        match v {
            Value::U8(x) => self.put(&x.to_le_bytes()),
            Value::I8(x) => self.put(&x.to_le_bytes()),
            Value::U16(x) => self.put(&x.to_le_bytes()),
            Value::I16(x) => self.put(&x.to_le_bytes()),
            Value::U32(x) => self.put(&x.to_le_bytes()),
            Value::I32(x) => self.put(&x.to_le_bytes()),
            Value::F32(x) => self.put(&x.to_le_bytes()),
            Value::U64(x) => self.put(&x.to_le_bytes()),
            Value::I64(x) => self.put(&x.to_le_bytes()),
            Value::F64(x) => self.put(&x.to_le_bytes()),
            Value::Bool(x) => self.put(&[*x as u8]),
            Value::String(s) => self.string(s),
            Value::Array(a) => self.array(a),
        }
    }

    /// Element type, count, elements; an array of arrays repeats this for each inner array.
    fn array(&mut self, a: &Array) -> std::io::Result<()> {
        self.put(&(a.elem_type() as u32).to_le_bytes())?;
        self.put(&(a.len() as u64).to_le_bytes())?;
        macro_rules! each {
            ($v:expr) => {{
                for x in $v {
                    self.put(&x.to_le_bytes())?;
                }
                Ok(())
            }};
        }
        match a {
            Array::U8(v) => self.put(v),
            Array::I8(v) => each!(v),
            Array::U16(v) => each!(v),
            Array::I16(v) => each!(v),
            Array::U32(v) => each!(v),
            Array::I32(v) => each!(v),
            Array::F32(v) => each!(v),
            Array::U64(v) => each!(v),
            Array::I64(v) => each!(v),
            Array::F64(v) => each!(v),
            Array::Bool(v) => each!(v.iter().map(|&b| b as u8)),
            Array::String(v) => v.iter().try_for_each(|s| self.string(s)),
            Array::Array(v) => v.iter().try_for_each(|inner| self.array(inner)),
        }
    }
}
