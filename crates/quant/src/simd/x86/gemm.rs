//! The register-tiled gemm driver shared by every type.
//!
//! A type provides one generic tile function `tile::<R, C>(w rows, x rows)` that computes an
//! R x C block of outputs, loading each weight block once and reusing it for the C activation
//! columns (and each activation block for the R rows). Inside a tile every output keeps its
//! own accumulators and sees exactly the float operations, in the same order, as the type's
//! `vec_dot` (which is the same code with R = C = 1, or a variant doing the identical per-
//! output operations): so `gemm` is bit-identical to `vec_dot` for every (row, column), and
//! results never depend on how the engine splits a batch.

use crate::kernels::as_blocks;
use bytemuck::Pod;
use gguf::GgmlType;

/// An R x C tile kernel; `unsafe` because it requires AVX2+FMA+F16C.
pub(super) type Tile<W, X, const R: usize, const C: usize> = unsafe fn([&[W]; R], [&[X]; C]) -> [[f32; C]; R];

/// The tile shapes of one type: `rc` for the bulk, `r1` (R1 rows, one column) for single
/// activation columns (decode), `c1` (one row, C columns) and `one` for the leftovers.
pub(super) struct Tiles<W: 'static, X: 'static, const R: usize, const C: usize, const R1: usize> {
    pub rc: Tile<W, X, R, C>,
    pub r1: Tile<W, X, R1, 1>,
    pub c1: Tile<W, X, 1, C>,
    pub one: Tile<W, X, 1, 1>,
    /// Whether the driver prefetches decode tiles (false: `r1` prefetches as it goes).
    pub prefetch: bool,
}

/// `out[c * stride + r] = dot(w row r, x row c)` for r < nr, c < nc, by tiles.
#[allow(clippy::too_many_arguments)]
pub(super) fn run<W: Pod, X: Pod, const R: usize, const C: usize, const R1: usize>(
    t: &Tiles<W, X, R, C, R1>,
    (ty, vt): (GgmlType, GgmlType),
    n: usize,
    w: &[u8],
    nr: usize,
    x: &[u8],
    nc: usize,
    out: &mut [f32],
    stride: usize,
) {
    let wrb = ty.row_bytes(n).expect("whole blocks");
    let xrb = vt.row_bytes(n).expect("whole blocks");
    assert_eq!(w.len(), nr * wrb, "{ty} gemm: weight bytes for {nr} rows of {n}");
    assert_eq!(x.len(), nc * xrb, "{ty} gemm: {vt} activation bytes for {nc} rows of {n}");
    if nr == 0 || nc == 0 {
        return;
    }
    assert!(out.len() >= (nc - 1) * stride + nr, "{ty} gemm: output too small");
    let (wb, xb) = (as_blocks::<W>(w), as_blocks::<X>(x));
    let (nw, nx) = (wrb / std::mem::size_of::<W>(), xrb / std::mem::size_of::<X>());
    let wrow = |r: usize| &wb[r * nw..(r + 1) * nw];
    let xrow = |c: usize| &xb[c * nx..(c + 1) * nx];
    let mut c = 0;
    while c + C <= nc && C > 1 {
        let xs: [&[X]; C] = std::array::from_fn(|j| xrow(c + j));
        let mut r = 0;
        while r + R <= nr {
            // SAFETY: tile kernels are installed only by avx2_table, after detecting AVX2+FMA+F16C.
            let o = unsafe { (t.rc)(std::array::from_fn(|i| wrow(r + i)), xs) };
            for (i, orow) in o.iter().enumerate() {
                for (j, &v) in orow.iter().enumerate() {
                    out[(c + j) * stride + r + i] = v;
                }
            }
            r += R;
        }
        while r < nr {
            // SAFETY: as above.
            let o = unsafe { (t.c1)([wrow(r)], xs) };
            for (j, &v) in o[0].iter().enumerate() {
                out[(c + j) * stride + r] = v;
            }
            r += 1;
        }
        c += C;
    }
    while c < nc {
        let xs = [xrow(c)];
        let mut r = 0;
        while r + R1 <= nr {
            if nc == 1 && t.prefetch {
                // Decode: request the next tile's lines together while this one is computed
                // (see `prefetch_bytes`); the first tile's at the start.
                if r == 0 {
                    super::util::prefetch_bytes(&w[..(R1 * wrb).min(w.len())]);
                }
                super::util::prefetch_bytes(&w[((r + R1) * wrb).min(w.len())..((r + 2 * R1) * wrb).min(w.len())]);
            }
            // SAFETY: as above.
            let o = unsafe { (t.r1)(std::array::from_fn(|i| wrow(r + i)), xs) };
            for (i, orow) in o.iter().enumerate() {
                out[c * stride + r + i] = orow[0];
            }
            r += R1;
        }
        while r < nr {
            // SAFETY: as above.
            out[c * stride + r] = unsafe { (t.one)([wrow(r)], xs) }[0][0];
            r += 1;
        }
        c += 1;
    }
}

/// A byte-level [`crate::kernels::GemmFn`] running a type's tile function through [`run`]
/// with shape `(R, C, R1)`.
macro_rules! tiles_gemm {
    ($ty:ident, $vt:ident, $W:ty, $X:ty, tile: $tile:path, shape: ($R:literal, $C:literal, $R1:literal)) => {{
        tiles_gemm!($ty, $vt, $W, $X, tile: $tile, shape: ($R, $C, $R1), prefetch: true)
    }};
    ($ty:ident, $vt:ident, $W:ty, $X:ty, tile: $tile:path, shape: ($R:literal, $C:literal, $R1:literal), prefetch: $pf:literal) => {{
        fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
            use $tile as t;
            let tiles: Tiles<$W, $X, $R, $C, $R1> = Tiles { rc: t::<$R, $C>, r1: t::<$R1, 1>, c1: t::<1, $C>, one: t::<1, 1>, prefetch: $pf };
            $crate::simd::x86::gemm_run(&tiles, (GgmlType::$ty, GgmlType::$vt), n, w, nr, x, nc, out, stride)
        }
        gemm as $crate::kernels::GemmFn
    }};
}
pub(super) use tiles_gemm;

/// Builds a [`crate::kernels::TypeKernels`] from a type's `dot`, `tile` and dequantizer, all
/// `#[target_feature]` functions; the wrappers are the safe, byte-level table entries.
macro_rules! type_kernels {
    ($ty:ident, $vt:ident, $W:ty, $X:ty, dot: $dot:path, tile: $tile:ident, shape: ($R:literal, $C:literal, $R1:literal), deq: $deq:path) => {{
        fn vec_dot(n: usize, w: &[u8], x: &[u8]) -> f32 {
            assert_eq!(Some(w.len()), GgmlType::$ty.row_bytes(n), "{} vec_dot: weight row of {n}", GgmlType::$ty);
            assert_eq!(Some(x.len()), GgmlType::$vt.row_bytes(n), "{} vec_dot: activation row of {n}", GgmlType::$ty);
            let (w, x) = (as_blocks::<$W>(w), as_blocks::<$X>(x));
            // SAFETY: this entry is installed only by avx2_table after detecting AVX2+FMA+F16C.
            unsafe { $dot(&w, &x) }
        }
        fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
            let t: Tiles<$W, $X, $R, $C, $R1> = Tiles { rc: $tile::<$R, $C>, r1: $tile::<$R1, 1>, c1: $tile::<1, $C>, one: $tile::<1, 1>, prefetch: true };
            $crate::simd::x86::gemm_run(&t, (GgmlType::$ty, GgmlType::$vt), n, w, nr, x, nc, out, stride)
        }
        fn dequantize_row(src: &[u8], dst: &mut [f32]) {
            let src = as_blocks::<$W>(src);
            // SAFETY: as for vec_dot.
            unsafe { $deq(&src, dst) }
        }
        TypeKernels { ty: GgmlType::$ty, vec_dot_type: GgmlType::$vt, vec_dot, gemm, dequantize_row }
    }};
}
pub(super) use type_kernels;
