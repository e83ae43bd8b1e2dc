// Dev-only: one ggml mul_mat on the CPU backend, as llama.cpp would run it.
// usage: mulmat TYPE_ID ROWS K N REPACK THREADS WFILE XFILE OUTFILE
//   WFILE: ROWS rows of K elements in TYPE (raw blocks); XFILE: N*K f32; OUTFILE: N*ROWS f32.
//   REPACK=1 puts the weight in the CPU_REPACK buffer (interleaved kernels), as llama.cpp does.
#include "ggml.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void *readall(const char *p, size_t n) {
    FILE *f = fopen(p, "rb"); if (!f) { perror(p); exit(1); }
    void *b = malloc(n); if (fread(b, 1, n, f) != n) { fprintf(stderr, "%s: short\n", p); exit(1); }
    fclose(f); return b;
}
int main(int argc, char **argv) {
    if (argc != 10) { fprintf(stderr, "usage\n"); return 2; }
    enum ggml_type ty = atoi(argv[1]);
    int64_t rows = atoll(argv[2]), k = atoll(argv[3]), n = atoll(argv[4]);
    int repack = atoi(argv[5]), nt = atoi(argv[6]);
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, nt);
    ggml_backend_buffer_type_t wbuft = ggml_backend_cpu_buffer_type();
    if (repack) {
        ggml_backend_dev_t dev = ggml_backend_get_device(be);
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
        typedef ggml_backend_buffer_type_t *(*fn_t)(ggml_backend_dev_t);
        fn_t get = (fn_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
        ggml_backend_buffer_type_t *b = get(dev);
        wbuft = NULL;
        for (; b && *b; b++) if (strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) wbuft = *b;
        if (!wbuft) { fprintf(stderr, "no CPU_REPACK buffer\n"); return 1; }
    }
    struct ggml_init_params ip = { 16 * ggml_tensor_overhead() + ggml_graph_overhead(), NULL, true };
    struct ggml_context *cw = ggml_init(ip), *cx = ggml_init(ip);
    struct ggml_tensor *w = ggml_new_tensor_2d(cw, ty, k, rows);
    struct ggml_tensor *x = ggml_new_tensor_2d(cx, GGML_TYPE_F32, k, n);
    struct ggml_tensor *y = ggml_mul_mat(cx, w, x);
    ggml_backend_buffer_t bw = ggml_backend_alloc_ctx_tensors_from_buft(cw, wbuft);
    ggml_backend_buffer_t bx = ggml_backend_alloc_ctx_tensors_from_buft(cx, ggml_backend_cpu_buffer_type());
    if (!bw || !bx) { fprintf(stderr, "alloc failed\n"); return 1; }
    ggml_backend_buffer_set_usage(bw, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    void *wd = readall(argv[7], ggml_nbytes(w));
    void *xd = readall(argv[8], ggml_nbytes(x));
    ggml_backend_tensor_set(w, wd, 0, ggml_nbytes(w));
    ggml_backend_tensor_set(x, xd, 0, ggml_nbytes(x));
    struct ggml_cgraph *gf = ggml_new_graph(cx);
    ggml_build_forward_expand(gf, y);
    if (ggml_backend_graph_compute(be, gf) != GGML_STATUS_SUCCESS) { fprintf(stderr, "compute failed\n"); return 1; }
    float *out = malloc(ggml_nbytes(y));
    ggml_backend_tensor_get(y, out, 0, ggml_nbytes(y));
    FILE *f = fopen(argv[9], "wb"); fwrite(out, 1, ggml_nbytes(y), f); fclose(f);
    return 0;
}
