//! The kernel table: for each block type, its kernels, chosen once at load.
//!
//! Every entry works on raw bytes (rows as they sit in the mmap) so the engine never needs to
//! know a block layout. Each level (scalar, AVX2, NEON) fills the same table; the scalar level
//! is the reference module itself, so `VIBRANT_KERNELS=scalar` runs the truth.
//!
//! Contract of `gemm`: `out[c * out_stride + r] = vec_dot(w row r, x row c)` for r < nr,
//! c < nc, and the value must be **bit-identical** to what `vec_dot` gives for that pair. That
//! makes results independent of how a batch is tiled or split across threads.

use crate::reference as r;
use bytemuck::Pod;
use gguf::GgmlType;
use std::borrow::Cow;
use std::sync::OnceLock;

/// Dot product of `n` elements: a weight row and an activation row in the partner format.
pub type VecDotFn = fn(n: usize, w: &[u8], x: &[u8]) -> f32;
/// `nr` weight rows times `nc` activation rows; see the module docs for the layout of `out`.
pub type GemmFn = fn(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], out_stride: usize);
/// Dequantizes one row; `dst.len()` is the element count.
pub type DequantizeFn = fn(src: &[u8], dst: &mut [f32]);
/// Quantizes one row of activations; `src.len()` is the element count.
pub type QuantizeFn = fn(src: &[f32], dst: &mut [u8]);

/// Every weight type with a dot product (`vec_dot` and `gemm` against its `vec_dot_type`):
/// F32 first, then the others in [`GgmlType::ALL`]'s order.
pub const DOT_TYPES: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Which instruction set a kernel table uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Scalar,
    Avx2,
    /// AVX2 plus AVX-512 VNNI kernels where they pay (bit-identical to AVX2's).
    Avx512,
    Neon,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Neon => "neon",
        }
    }

    pub fn from_name(s: &str) -> Option<Level> {
        [Level::Scalar, Level::Avx2, Level::Avx512, Level::Neon].into_iter().find(|l| l.name().eq_ignore_ascii_case(s))
    }

    /// The best level this CPU supports.
    pub fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                if crate::simd::has_avx512_vnni() {
                    return Level::Avx512;
                }
                return Level::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Level::Neon;
            }
        }
        Level::Scalar
    }
}

/// The kernels of one weight type.
#[derive(Clone, Copy)]
pub struct TypeKernels {
    pub ty: GgmlType,
    /// The activation format `vec_dot` and `gemm` take (ggml's `vec_dot_type`).
    pub vec_dot_type: GgmlType,
    pub vec_dot: VecDotFn,
    pub gemm: GemmFn,
    pub dequantize_row: DequantizeFn,
}

/// One complete table: every type's kernels plus the activation quantizers.
#[derive(Clone)]
pub struct Kernels {
    pub level: Level,
    types: Vec<TypeKernels>,
    quantize: Vec<(GgmlType, QuantizeFn)>,
    /// ggml's f32 dot product ([`crate::emulate::dot_f32`]'s order), for attention scores.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// `acc[i] = fma(x[i], w, acc[i])`, for attention's weighted sum of V rows.
    pub fma_row: fn(&mut [f32], &[f32], f32),
    /// llama.cpp's batched kernels per type (see [`crate::matmul`]); absent types use `gemm`.
    batch: Vec<(GgmlType, crate::matmul::BatchKernels)>,
}

fn fma_row_scalar(acc: &mut [f32], x: &[f32], w: f32) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = v.mul_add(w, *a);
    }
}

impl Kernels {
    /// The kernels for weights of type `ty`. Every type of [`GgmlType::ALL`] has an entry.
    pub fn get(&self, ty: GgmlType) -> &TypeKernels {
        self.types.iter().find(|k| k.ty == ty).expect("every type has a kernel entry")
    }

    /// Quantizes activations into `ty` (a `vec_dot_type`), as ggml's `from_float` does.
    pub fn quantize_row(&self, ty: GgmlType, src: &[f32], dst: &mut [u8]) {
        let f = self.quantize.iter().find(|(t, _)| *t == ty).expect("every type has a quantizer").1;
        f(src, dst)
    }

    /// Replaces the kernels of one type (used by SIMD levels on top of the scalar table).
    pub fn set(&mut self, k: TypeKernels) {
        let slot = self.types.iter_mut().find(|e| e.ty == k.ty).expect("known type");
        *slot = k;
    }

    /// The batched kernels of `ty` (all `None` when llama.cpp's batches follow `vec_dot`).
    pub fn batch(&self, ty: GgmlType) -> crate::matmul::BatchKernels {
        self.batch.iter().find(|(t, _)| *t == ty).map(|e| e.1).unwrap_or_default()
    }

    /// Sets the batched kernels of `ty`.
    pub fn set_batch(&mut self, ty: GgmlType, b: crate::matmul::BatchKernels) {
        self.batch.retain(|(t, _)| *t != ty);
        self.batch.push((ty, b));
    }

    /// Replaces the activation quantizer for `ty`.
    pub fn set_quantize(&mut self, ty: GgmlType, f: QuantizeFn) {
        let slot = self.quantize.iter_mut().find(|e| e.0 == ty).expect("known type");
        slot.1 = f;
    }
}

/// The table for this process: `VIBRANT_KERNELS` if set (scalar, avx2, avx512, neon), else the best
/// level the CPU supports. Decided once, on first use.
pub fn kernels() -> &'static Kernels {
    static TABLE: OnceLock<Kernels> = OnceLock::new();
    TABLE.get_or_init(|| {
        let wanted = std::env::var("VIBRANT_KERNELS").ok().and_then(|s| Level::from_name(&s));
        let level = wanted.unwrap_or_else(Level::detect);
        kernels_for(level).unwrap_or_else(|| {
            // An explicitly requested level this CPU lacks: fall back rather than crash.
            kernels_for(Level::detect()).unwrap_or_else(scalar)
        })
    })
}

/// The table for `level`, or None if this CPU (or build target) does not support it.
pub fn kernels_for(level: Level) -> Option<Kernels> {
    match level {
        Level::Scalar => Some(scalar()),
        Level::Avx2 => crate::simd::avx2_table(scalar()),
        Level::Avx512 => crate::simd::avx512_table(scalar()),
        Level::Neon => crate::simd::neon_table(scalar()),
    }
}

/// Views `bytes` as blocks of `T`; copies only when the bytes are misaligned for `T`, which
/// does not happen for rows inside an aligned GGUF data section or our scratch buffers.
pub(crate) fn as_blocks<T: Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
    match bytemuck::try_cast_slice(bytes) {
        Ok(b) => Cow::Borrowed(b),
        Err(_) => {
            let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
            bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
            Cow::Owned(v)
        }
    }
}

/// A gemm built from a vec_dot: the scalar level's, and the fallback for any SIMD level.
// The closure type is GemmFn's signature; a capturing closure cannot be a GemmFn pointer.
#[allow(clippy::type_complexity)]
pub fn gemm_from_dot(
    dot: VecDotFn,
    ty: GgmlType,
    vt: GgmlType,
) -> impl Fn(usize, &[u8], usize, &[u8], usize, &mut [f32], usize) {
    move |n, w, nr, x, nc, out, stride| {
        let wb = ty.row_bytes(n).expect("whole blocks");
        let xb = vt.row_bytes(n).expect("whole blocks");
        for c in 0..nc {
            let xr = &x[c * xb..(c + 1) * xb];
            for row in 0..nr {
                out[c * stride + row] = dot(n, &w[row * wb..(row + 1) * wb], xr);
            }
        }
    }
}

/// Defines, for one weight type, the scalar byte-level kernels from the reference module.
macro_rules! scalar_type {
    ($modname:ident, $ty:ident, $vt:ident, $wblock:ty, $xblock:ty, $dot:path, $deq:path) => {
        mod $modname {
            use super::*;
            pub fn vec_dot(_n: usize, w: &[u8], x: &[u8]) -> f32 {
                $dot(&as_blocks::<$wblock>(w), &as_blocks::<$xblock>(x))
            }
            pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
                gemm_from_dot(vec_dot, GgmlType::$ty, GgmlType::$vt)(n, w, nr, x, nc, out, stride)
            }
            pub fn dequantize_row(src: &[u8], dst: &mut [f32]) {
                $deq(&as_blocks::<$wblock>(src), dst)
            }
            pub fn entry() -> TypeKernels {
                TypeKernels {
                    ty: GgmlType::$ty,
                    vec_dot_type: GgmlType::$vt,
                    vec_dot,
                    gemm,
                    dequantize_row,
                }
            }
        }
    };
}

use crate::blocks::*;
use half::{bf16, f16};

scalar_type!(s_f32, F32, F32, f32, f32, r::vec_dot_f32_f32, r::dequantize_row_f32);
scalar_type!(s_f16, F16, F16, f16, f16, r::vec_dot_f16_f16, r::dequantize_row_f16);
scalar_type!(s_bf16, BF16, BF16, bf16, bf16, r::vec_dot_bf16_bf16, r::dequantize_row_bf16);
scalar_type!(s_q4_0, Q4_0, Q8_0, BlockQ4_0, BlockQ8_0, r::vec_dot_q4_0_q8_0, r::dequantize_row_q4_0);
scalar_type!(s_q4_1, Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, crate::emulate::vec_dot_q4_1_q8_1, r::dequantize_row_q4_1);
scalar_type!(s_q5_0, Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, crate::emulate::vec_dot_q5_0_q8_0, r::dequantize_row_q5_0);
scalar_type!(s_q5_1, Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, crate::emulate::vec_dot_q5_1_q8_1, r::dequantize_row_q5_1);
scalar_type!(s_q8_0, Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, crate::emulate::vec_dot_q8_0_q8_0, r::dequantize_row_q8_0);
scalar_type!(s_q2_k, Q2_K, Q8_K, BlockQ2K, BlockQ8K, crate::emulate::kdot::vec_dot_q2_k_q8_k, r::dequantize_row_q2_k);
scalar_type!(s_q3_k, Q3_K, Q8_K, BlockQ3K, BlockQ8K, crate::emulate::kdot::vec_dot_q3_k_q8_k, r::dequantize_row_q3_k);
scalar_type!(s_q4_k, Q4_K, Q8_K, BlockQ4K, BlockQ8K, crate::emulate::kdot::vec_dot_q4_k_q8_k, r::dequantize_row_q4_k);
scalar_type!(s_q5_k, Q5_K, Q8_K, BlockQ5K, BlockQ8K, crate::emulate::kdot::vec_dot_q5_k_q8_k, r::dequantize_row_q5_k);
scalar_type!(s_q6_k, Q6_K, Q8_K, BlockQ6K, BlockQ8K, crate::emulate::vec_dot_q6_k_q8_k, r::dequantize_row_q6_k);

/// Activation-only formats have no dot product; they only dequantize.
macro_rules! activation_only {
    ($modname:ident, $ty:ident, $block:ty, $deq:path) => {
        mod $modname {
            use super::*;
            fn no_dot(_n: usize, _w: &[u8], _x: &[u8]) -> f32 {
                panic!(concat!(stringify!($ty), " is an activation format; it is never a weight"))
            }
            fn no_gemm(_: usize, _: &[u8], _: usize, _: &[u8], _: usize, _: &mut [f32], _: usize) {
                panic!(concat!(stringify!($ty), " is an activation format; it is never a weight"))
            }
            fn dequantize_row(src: &[u8], dst: &mut [f32]) {
                $deq(&as_blocks::<$block>(src), dst)
            }
            pub fn entry() -> TypeKernels {
                TypeKernels {
                    ty: GgmlType::$ty,
                    vec_dot_type: GgmlType::$ty,
                    vec_dot: no_dot,
                    gemm: no_gemm,
                    dequantize_row,
                }
            }
        }
    };
}
activation_only!(s_q8_1, Q8_1, BlockQ8_1, r::dequantize_row_q8_1);
activation_only!(s_q8_k, Q8_K, BlockQ8K, r::dequantize_row_q8_k);

fn quantize_via_reference<const TY: u32>(src: &[f32], dst: &mut [u8]) {
    let ty = GgmlType::from_id(TY).expect("known id");
    r::quantize_row(ty, src, dst).expect("activation scratch sized for the row");
}

/// The scalar table: the reference module behind byte-level entry points.
pub fn scalar() -> Kernels {
    let types = vec![
        s_f32::entry(),
        s_f16::entry(),
        s_bf16::entry(),
        s_q4_0::entry(),
        s_q4_1::entry(),
        s_q5_0::entry(),
        s_q5_1::entry(),
        s_q8_0::entry(),
        s_q8_1::entry(),
        s_q2_k::entry(),
        s_q3_k::entry(),
        s_q4_k::entry(),
        s_q5_k::entry(),
        s_q6_k::entry(),
        s_q8_k::entry(),
    ];
    let quantize: Vec<(GgmlType, QuantizeFn)> = vec![
        (GgmlType::F32, quantize_via_reference::<0>),
        (GgmlType::F16, quantize_via_reference::<1>),
        (GgmlType::BF16, quantize_via_reference::<30>),
        (GgmlType::Q8_0, quantize_via_reference::<8>),
        (GgmlType::Q8_1, quantize_via_reference::<9>),
        (GgmlType::Q8_K, quantize_via_reference::<15>),
    ];
    let mut k = Kernels { level: Level::Scalar, types, quantize, dot_f32: crate::emulate::dot_f32, fma_row: fma_row_scalar, batch: Vec::new() };
    crate::emulate::table::install(&mut k);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_kernels_and_partner_quantizer() {
        let k = scalar();
        for ty in GgmlType::ALL {
            let e = k.get(ty);
            assert_eq!(e.ty, ty);
            assert_eq!(e.vec_dot_type, r::vec_dot_type(ty));
            // The partner format has an activation quantizer.
            let _ = k.quantize.iter().find(|(t, _)| *t == e.vec_dot_type).expect("quantizer");
        }
    }

    #[test]
    fn scalar_gemm_equals_vec_dot_and_is_close_to_reference() {
        let n = 512;
        let k = scalar();
        for ty in [GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16] {
            let e = k.get(ty);
            let rb = ty.row_bytes(n).unwrap();
            let xb = e.vec_dot_type.row_bytes(n).unwrap();
            let (nr, nc) = (3, 2);
            let mut w = vec![0u8; rb * nr];
            let mut x = vec![0u8; xb * nc];
            for row in 0..nr {
                let v: Vec<f32> = (0..n).map(|i| ((i * 7 + row * 13) as f32 * 0.1).sin()).collect();
                r::quantize_row_ref(ty, &v, &mut w[row * rb..(row + 1) * rb]).unwrap();
            }
            for c in 0..nc {
                let v: Vec<f32> = (0..n).map(|i| ((i * 3 + c * 5) as f32 * 0.2).cos()).collect();
                k.quantize_row(e.vec_dot_type, &v, &mut x[c * xb..(c + 1) * xb]);
            }
            let mut out = vec![0f32; nr * nc];
            (e.gemm)(n, &w, nr, &x, nc, &mut out, nr);
            for c in 0..nc {
                for row in 0..nr {
                    let (wr, xr) = (&w[row * rb..(row + 1) * rb], &x[c * xb..(c + 1) * xb]);
                    // gemm is bit-identical to this table's vec_dot (ggml's x86 order where
                    // emulated), which in turn is close to the generic reference.
                    let want = (e.vec_dot)(n, wr, xr);
                    assert_eq!(out[c * nr + row].to_bits(), want.to_bits(), "{ty:?} r{row} c{c}");
                    let generic = r::vec_dot(ty, n, wr, xr).unwrap();
                    assert!((want - generic).abs() <= 1e-4 * (1.0 + generic.abs()), "{ty:?}: {want} vs {generic}");
                }
            }
        }
    }
}
