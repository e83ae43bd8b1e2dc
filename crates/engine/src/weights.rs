//! Weight views into the mapped file. A matrix stays in its quantized bytes; only small vectors
//! (norms, biases) are dequantized into owned f32 at load.

use crate::EngineError;
use gguf::{GgmlType, GgufFile};
use std::ops::Range;

/// A weight matrix of `rows` rows of `cols` elements, stored as ggml lays it out (row-major,
/// each row `cols` elements of `ty`). GGUF shape [ne0, ne1] = [cols, rows].
#[derive(Clone, Debug)]
pub struct Matrix {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// llama.cpp would hold this tensor repacked (interleaved), which decides its kernels'
    /// float order (see `quant::matmul`); decided for the whole tensor, kept by slices.
    pub repacked: bool,
    /// Byte range in the file.
    range: Range<usize>,
}

impl Matrix {
    /// The weight bytes inside `file`.
    pub fn bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        &file[self.range.clone()]
    }

    pub fn row_bytes(&self) -> usize {
        self.range.len() / self.rows
    }

    /// A sub-matrix of whole rows (phi3's fused QKV and gate-up are split this way, no copy).
    pub fn rows_slice(&self, rows: Range<usize>, name: &str) -> Matrix {
        let rb = self.row_bytes();
        Matrix {
            name: name.to_string(),
            ty: self.ty,
            rows: rows.len(),
            cols: self.cols,
            repacked: self.repacked,
            range: self.range.start + rows.start * rb..self.range.start + rows.end * rb,
        }
    }
}

/// Looks tensors up by name and checks their shapes, with errors that name the tensor.
pub struct Loader<'a> {
    pub file: &'a GgufFile,
}

impl<'a> Loader<'a> {
    pub fn has(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    fn info(&self, name: &str) -> Result<&'a gguf::TensorInfo, EngineError> {
        self.file.tensor(name).ok_or_else(|| EngineError::MissingTensor { name: name.to_string() })
    }

    /// A [cols, rows] matrix.
    pub fn matrix(&self, name: &str, cols: usize, rows: usize) -> Result<Matrix, EngineError> {
        let t = self.info(name)?;
        if t.dims != [cols as u64, rows as u64] {
            return Err(EngineError::BadShape {
                name: name.to_string(),
                found: t.dims.clone(),
                expected: vec![cols as u64, rows as u64],
            });
        }
        if t.ty == GgmlType::Q8_1 || t.ty == GgmlType::Q8_K {
            return Err(EngineError::BadTensorType { name: name.to_string(), ty: t.ty });
        }
        let start = (self.file.data_offset + t.offset) as usize;
        let repacked = quant::kernels::kernels().repacks(t.ty, rows);
        Ok(Matrix { name: name.to_string(), ty: t.ty, rows, cols, repacked, range: start..start + t.size as usize })
    }

    pub fn matrix_opt(&self, name: &str, cols: usize, rows: usize) -> Result<Option<Matrix>, EngineError> {
        if self.has(name) { self.matrix(name, cols, rows).map(Some) } else { Ok(None) }
    }

    /// A vector of `len` elements, dequantized to f32.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, EngineError> {
        let t = self.info(name)?;
        if t.dims != [len as u64] {
            return Err(EngineError::BadShape { name: name.to_string(), found: t.dims.clone(), expected: vec![len as u64] });
        }
        let mut out = vec![0.0; len];
        dequantize(t.ty, self.file.tensor_data(t), &mut out)
            .map_err(|_| EngineError::BadTensorType { name: name.to_string(), ty: t.ty })?;
        Ok(out)
    }

    pub fn vector_opt(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, EngineError> {
        if self.has(name) { self.vector(name, len).map(Some) } else { Ok(None) }
    }
}

/// Dequantize a row through the kernel table. Errs on activation-only types.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), ()> {
    if ty == GgmlType::Q8_1 || ty == GgmlType::Q8_K {
        return Err(());
    }
    (quant::kernels::kernels().get(ty).dequantize_row)(src, dst);
    Ok(())
}
