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
        // Decode reads each row once, from memory: its tiles take rows from DECODE_STREAMS
        // far-apart parts of the chunk at once; the last columns of a batch read one stream.
        let streams = if nc == 1 { DECODE_STREAMS } else { 1 };
        decode(t.r1, t.one, &wrow, xrow(c), nr, streams, nc == 1 && t.prefetch, &mut out[c * stride..]);
        c += 1;
    }
}

/// `out[r] = dot(wrow(r), x)` for r < nr by R1-row tiles whose rows come from `streams` parts
/// of the rows (see [`decode_tile_rows`]), then single rows; with `prefetch`, each tile's
/// successor's lines are requested while it is computed (see `prefetch_bytes`), the first
/// tile's at the start. The decode path of this driver and of the K-quant lane driver.
#[allow(clippy::too_many_arguments)]
pub(super) fn decode<'a, W: Pod, X: Pod, const R1: usize>(
    big: Tile<W, X, R1, 1>,
    one: Tile<W, X, 1, 1>,
    wrow: &dyn Fn(usize) -> &'a [W],
    x: &[X],
    nr: usize,
    streams: usize,
    prefetch: bool,
    out: &mut [f32],
) {
    let (tiles, streams) = decode_tiles(nr, R1, streams);
    let rows_of = |k: usize| -> [usize; R1] { decode_tile_rows(k, tiles, streams) };
    for k in 0..tiles {
        let rows = rows_of(k);
        if prefetch {
            for next in if k == 0 { 0..2 } else { 1..2 } {
                if k + next < tiles {
                    for r in rows_of(k + next) {
                        super::util::prefetch_bytes(bytemuck::cast_slice(wrow(r)));
                    }
                }
            }
        }
        // SAFETY: tile kernels are installed only by avx2_table / install_vnni, after
        // detecting AVX2+FMA+F16C (and AVX-512 for the latter's).
        let o = unsafe { big(rows.map(wrow), [x]) };
        for (i, orow) in o.iter().enumerate() {
            out[rows[i]] = orow[0];
        }
    }
    for (r, o) in out[..nr].iter_mut().enumerate().skip(tiles * R1) {
        // SAFETY: as above.
        *o = unsafe { one([wrow(r)], [x]) }[0][0];
    }
}

/// Parts of a decode chunk read at once. One sequential stream per thread left this machine's
/// memory idle between requests: a read test of 1 GiB gave 14-16 GB/s (2 threads) reading one
/// stream per thread and 19-24 GB/s reading four far-apart ones round-robin in pieces of
/// 256 bytes (but no gain in pieces of 4 KiB; Xeon VM, 2026-12-03).
pub(super) const DECODE_STREAMS: usize = 4;

/// How many R1-row tiles cover `nr` rows, and from how many streams (the rest run one by one).
fn decode_tiles(nr: usize, r1: usize, streams: usize) -> (usize, usize) {
    let tiles = nr / r1;
    // The most streams up to `streams` that divide the tile's rows evenly.
    let streams = (1..=streams.min(r1)).rev().find(|&s| r1.is_multiple_of(s) && tiles >= s).unwrap_or(1);
    (tiles, streams)
}

/// The rows of decode tile `k` of `tiles`: rows `0..tiles * R1` are `streams` equal parts, and
/// each tile takes R1 / streams consecutive rows of every part, so reading a tile block by
/// block reads the parts together.
fn decode_tile_rows<const R1: usize>(k: usize, tiles: usize, streams: usize) -> [usize; R1] {
    let per = R1 / streams;
    std::array::from_fn(|i| (i / per) * tiles * per + k * per + i % per)
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
