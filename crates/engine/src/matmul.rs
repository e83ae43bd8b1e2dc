//! `out = x · Wᵀ` for a quantized weight matrix, spread over the thread pool.
//!
//! Activations are quantized once per matmul into the weight type's partner format (Q8_0 /
//! Q8_1 / Q8_K / F16 ...), then each thread takes chunks of weight rows and runs the kernel
//! table's `gemm` over all tokens, so each weight block is read once per token tile.
//! Every output element is one `vec_dot` of a weight row and an activation row, in a fixed
//! order, so the result does not depend on the thread count or on how a prompt is batched.

use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;
use crate::weights::Matrix;
use quant::kernels::kernels;

/// Tokens per gemm call: the tile of activation rows a weight chunk is reused across.
const TOKEN_TILE: usize = 16;
/// Tokens per task of a large batch split by tokens: the AVX-512 type-0 kernels decode each
/// 4 weight rows once per call, for all its groups of 8 tokens, and ran 25% faster at 32
/// tokens per call than at 16 (`gemm_shapes`, Q5_0 896 columns, 2026-12-03).
const WIDE_TOKEN_TILE: usize = 32;
/// Upper bound on weight rows per chunk, so the per-chunk output tile fits on the stack.
const MAX_CHUNK_ROWS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulMode {
    /// Quantized activations and the kernel table, as llama.cpp computes.
    Fast,
    /// As `Fast`, except that batches of 8+ tokens of the types with a kernel of our own order
    /// (Q5_0, Q8_0 and Q4_K on AVX-512 VNNI, Q5_0 on AVX2: `quant::simd::x86::rows16`) use it: about twice the
    /// kernel's speed, but not llama.cpp's last bits, which chaotic models amplify past the
    /// golden tests' tolerance (opt-in: `--fast-prefill`; judged by perplexity).
    OwnOrder,
    /// Quantized activations, and every batch size multiplied in the single-token (`vec_dot`)
    /// order: the logits do not depend on how a prompt is split into batches (issue #6's
    /// batch invariance; llama.cpp's batched kernels round differently from its vec_dot).
    Deterministic,
    /// f32 activations and weight rows dequantized on the fly: the plain reference for tests.
    Reference,
}

/// Everything a matmul needs besides its operands.
pub struct Matmul<'a> {
    pub pool: &'a ThreadPool,
    pub file: &'a [u8],
    pub mode: MatmulMode,
    /// Scratch for quantized activations, sized at load for the widest input and largest batch.
    pub act: &'a mut [u8],
}

/// Bytes of activation scratch needed for `n_tok` rows of `cols` elements in any partner format.
pub fn act_bytes(cols: usize, n_tok: usize) -> usize {
    // F32 rows are the widest encoding (4 bytes per element); every quantized format is smaller.
    cols * 4 * n_tok
}

impl Matmul<'_> {
    /// `out[t * w.rows + r] = dot(w row r, x row t)` for t < n, r < w.rows.
    pub fn run(&mut self, w: &Matrix, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        assert!(x.len() >= n * cols && out.len() >= n * rows, "matmul {}: buffers too small", w.name);
        match self.mode {
            MatmulMode::Fast | MatmulMode::OwnOrder | MatmulMode::Deterministic => self.run_fast(w, &x[..n * cols], n, &mut out[..n * rows]),
            MatmulMode::Reference => self.run_reference(w, &x[..n * cols], n, &mut out[..n * rows]),
        }
    }

    /// Several matrices of the same input in one parallel region: `outs[i] = x · ws[i]ᵀ`
    /// (Q, K and V; gate and up). The activations are quantized once when the matrices share
    /// a partner format, and one region saves a fork-join per matrix, which is a visible part
    /// of decoding a small model. Each output is computed exactly as [`Matmul::run`] computes
    /// it (same plan, same kernel per row), so the results are bit-identical.
    pub fn run_group<const G: usize>(&mut self, ws: [&Matrix; G], x: &[f32], n: usize, outs: [&mut [f32]; G]) {
        let k = kernels();
        let vt = k.get(ws[0].ty).vec_dot_type;
        let shared = self.mode != MatmulMode::Reference
            && ws.iter().all(|w| w.cols == ws[0].cols && k.get(w.ty).vec_dot_type == vt);
        if !shared {
            for (w, out) in ws.into_iter().zip(outs) {
                self.run(w, x, n, out);
            }
            return;
        }
        let cols = ws[0].cols;
        assert!(x.len() >= n * cols, "matmul {}: input too small", ws[0].name);
        let act_row = self.quantize(vt, &x[..n * cols], n, cols);
        let jobs: [Job; G] = std::array::from_fn(|i| Job::new(self, ws[i], n));
        let mut outs = outs.map(Some);
        let dsts: [DisjointMut<f32>; G] = std::array::from_fn(|i| {
            let out = outs[i].take().expect("each output taken once");
            assert!(out.len() >= n * ws[i].rows, "matmul {}: output too small", ws[i].name);
            DisjointMut::new(&mut out[..n * ws[i].rows])
        });
        let act = &self.act[..n * act_row];
        let total: usize = jobs.iter().map(|j| j.n_chunks).sum();
        self.pool.parallel_for(total, 1, &|c0, c1| {
            for c in c0..c1 {
                let (mut i, mut c) = (0, c);
                while c >= jobs[i].n_chunks {
                    c -= jobs[i].n_chunks;
                    i += 1;
                }
                jobs[i].task(c, act, act_row, &dsts[i]);
            }
        });
    }

    fn run_fast(&mut self, w: &Matrix, x: &[f32], n: usize, out: &mut [f32]) {
        let vt = kernels().get(w.ty).vec_dot_type;
        let act_row = self.quantize(vt, x, n, w.cols);
        let job = Job::new(self, w, n);
        let act = &self.act[..n * act_row];
        let out = DisjointMut::new(out);
        self.pool.parallel_for(job.n_chunks, 1, &|c0, c1| (c0..c1).for_each(|c| job.task(c, act, act_row, &out)));
    }

    /// Quantizes `n` rows of `cols` into the scratch in format `vt`; returns the row size.
    fn quantize(&mut self, vt: gguf::GgmlType, x: &[f32], n: usize, cols: usize) -> usize {
        let k = kernels();
        let act_row = vt.row_bytes(cols).expect("row length validated at load");
        let act = DisjointMut::new(&mut self.act[..n * act_row]);
        self.pool.parallel_for(n, 1.max(n / (4 * self.pool.n_threads())), &|t0, t1| {
            for t in t0..t1 {
                // SAFETY: token t's activation row is written by the one thread that claimed t.
                let dst = unsafe { act.range(t * act_row..(t + 1) * act_row) };
                k.quantize_row(vt, &x[t * cols..(t + 1) * cols], dst);
            }
        });
        act_row
    }

    fn run_reference(&mut self, w: &Matrix, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        let wb = w.bytes(self.file);
        let rb = w.row_bytes();
        let dequantize = quant::kernels::kernels_for(quant::kernels::Level::Scalar)
            .expect("scalar kernels always exist")
            .get(w.ty)
            .dequantize_row;
        let mut wrow = vec![0f32; cols];
        for r in 0..rows {
            dequantize(&wb[r * rb..(r + 1) * rb], &mut wrow);
            for t in 0..n {
                let xr = &x[t * cols..(t + 1) * cols];
                let dot: f64 = wrow.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
                out[t * rows + r] = dot as f32;
            }
        }
    }
}

/// One matrix of a matmul region: its bytes, llama.cpp's kernel plan for the batch, and how
/// its work is cut into tasks for the threads.
struct Job<'a> {
    w: &'a Matrix,
    wb: &'a [u8],
    rb: usize,
    n: usize,
    plan: quant::matmul::BatchPlan,
    split: Split,
    n_chunks: usize,
}

/// How a matmul's output is cut into tasks.
#[derive(Clone, Copy)]
enum Split {
    /// Chunks of this many weight rows, each for every token through a stack tile (decode,
    /// small batches, large matrices).
    Rows(usize),
    /// Tasks of `tile` tokens, each for every weight row, written in place: a task's
    /// output rows are contiguous and its own, so no tile is copied (the copy's cache misses
    /// were 3.6-4% of a 512-token prefill, BENCHMARKS.md 2026-12-03). Tiles of the plan's
    /// main and tail kernels are counted separately (`main_tiles`), so none straddles them.
    Tokens { tile: usize, main_tiles: usize },
}

/// Largest weight matrix split by token tiles: each tile streams the whole matrix, which
/// costs nothing while it stays in the last-level cache (a 0.5B model's FFN matrices are
/// 2.4-3 MB) but would make a large output head (tens of MB) a DRAM stream per tile.
const MAX_TOKEN_SPLIT_BYTES: usize = 8 << 20;

impl<'a> Job<'a> {
    fn new(mm: &Matmul<'a>, w: &'a Matrix, n: usize) -> Job<'a> {
        let k = kernels();
        let tk = k.get(w.ty);
        // llama.cpp's kernel for this type and batch size (tokens past n_main use the tail).
        let plan = match mm.mode {
            MatmulMode::Deterministic => quant::matmul::BatchPlan { main: tk.gemm, n_main: n, tail: tk.gemm },
            MatmulMode::OwnOrder => k.plan_fast(w.ty, w.rows, n, w.repacked),
            _ => k.plan(w.ty, w.rows, n, w.repacked),
        };
        let nt = mm.pool.n_threads();
        let wb = w.bytes(mm.file);
        // Enough tasks for the dynamic schedule to balance the threads, of the larger tile
        // when there are enough of those.
        let tiles = |tile: usize| plan.n_main.div_ceil(tile) + (n - plan.n_main).div_ceil(tile);
        let tile = if tiles(WIDE_TOKEN_TILE) >= 8 * nt { WIDE_TOKEN_TILE } else { TOKEN_TILE };
        let (main_tiles, n_tiles) = (plan.n_main.div_ceil(tile), tiles(tile));
        let split = if n_tiles >= 8 * nt && wb.len() <= MAX_TOKEN_SPLIT_BYTES {
            Split::Tokens { tile, main_tiles }
        } else if n == 1 {
            Split::Rows(decode_chunk_rows(w.rows, nt))
        } else {
            Split::Rows(chunk_rows(w.rows, nt))
        };
        let n_chunks = match split {
            Split::Rows(chunk) => w.rows.div_ceil(chunk),
            Split::Tokens { .. } => n_tiles,
        };
        Job { w, wb, rb: w.row_bytes(), n, plan, split, n_chunks }
    }

    /// Task `c` of `0..n_chunks`; `out` is `[n][w.rows]`.
    fn task(&self, c: usize, act: &[u8], act_row: usize, out: &DisjointMut<f32>) {
        match self.split {
            Split::Rows(chunk) => {
                let r0 = c * chunk;
                self.rows(act, act_row, r0, (r0 + chunk).min(self.w.rows), out)
            }
            Split::Tokens { tile, main_tiles } => {
                let (n_main, rows) = (self.plan.n_main, self.w.rows);
                let (c0, end, gemm) = if c < main_tiles {
                    (c * tile, n_main, self.plan.main)
                } else {
                    (n_main + (c - main_tiles) * tile, self.n, self.plan.tail)
                };
                let nc = tile.min(end - c0);
                // SAFETY: output rows c0..c0 + nc (tokens) belong to this task alone.
                let dst = unsafe { out.range(c0 * rows..(c0 + nc) * rows) };
                gemm(self.w.cols, self.wb, rows, &act[c0 * act_row..(c0 + nc) * act_row], nc, dst, rows);
            }
        }
    }

    /// Output columns `r0..r1` (weight rows) for every token; `out` is `[n][w.rows]`.
    fn rows(&self, act: &[u8], act_row: usize, r0: usize, r1: usize, out: &DisjointMut<f32>) {
        let (n, rows, cols, plan) = (self.n, self.w.rows, self.w.cols, &self.plan);
        let nr = r1 - r0;
        let wrows = &self.wb[r0 * self.rb..r1 * self.rb];
        if n == 1 {
            let gemm = if plan.n_main == 1 { plan.main } else { plan.tail };
            // SAFETY: rows r0..r1 of the single output row belong to this chunk alone.
            let dst = unsafe { out.range(r0..r1) };
            gemm(cols, wrows, nr, act, 1, dst, nr);
            return;
        }
        let mut tile = [0f32; TOKEN_TILE * MAX_CHUNK_ROWS];
        let mut c0 = 0;
        while c0 < n {
            // A tile never straddles n_main, so one kernel computes all of it.
            let end = if c0 < plan.n_main { plan.n_main } else { n };
            let nc = TOKEN_TILE.min(end - c0);
            let gemm = if c0 < plan.n_main { plan.main } else { plan.tail };
            gemm(cols, wrows, nr, &act[c0 * act_row..(c0 + nc) * act_row], nc, &mut tile[..nc * nr], nr);
            for c in 0..nc {
                let o = (c0 + c) * rows;
                // SAFETY: columns r0..r1 of every output row belong to this chunk alone.
                let dst = unsafe { out.range(o + r0..o + r1) };
                dst.copy_from_slice(&tile[c * nr..(c + 1) * nr]);
            }
            c0 += nc;
        }
    }
}

/// Rows per work chunk for one token (decode): two chunks per thread. Decode streams the
/// weights from memory, and each chunk starts with its first lines' full memory latency
/// before the kernel's prefetch runs ahead, so fewer, longer chunks pay: Qwen2.5 tg 66 t/s with
/// 8 chunks per thread (at most 256 rows), 74 with 1, 2 or 4 (2 threads, 2026-12-02). Two
/// still lets one thread take over the other's share when it is descheduled.
fn decode_chunk_rows(rows: usize, n_threads: usize) -> usize {
    rows.div_ceil(n_threads * 2).max(8).div_ceil(8) * 8
}

/// Rows per work chunk: small enough to balance threads (about 8 chunks per thread), large
/// enough to amortize scheduling, a multiple of 8: the interleaved kernels take groups of 4
/// rows and the AVX-512 tiles 8 rows (a chunk's leftover rows run one by one).
fn chunk_rows(rows: usize, n_threads: usize) -> usize {
    let c = rows.div_ceil(n_threads * 8).clamp(8, MAX_CHUNK_ROWS);
    c.div_ceil(8) * 8
}
