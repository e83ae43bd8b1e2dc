//! Writer round trips: what is written reads back equal, laid out as the GGUF spec says.
//! Expected values are the inputs, bytes spelled out from the spec, or files written by other
//! GGUF writers (llama.cpp's llama-quantize, the PyPI gguf package) — never our own output.

use gguf::{Array, GgmlType, GgufFile, GgufWriter, Value, WriteError};
use std::path::{Path, PathBuf};

fn read(w: &GgufWriter) -> (Vec<u8>, GgufFile) {
    let bytes = w.to_bytes().expect("write");
    let f = GgufFile::from_bytes(bytes.clone()).expect("read back");
    (bytes, f)
}

/// Deterministic filler bytes (xorshift), so tensors are not all zeros.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn every_value() -> Vec<(String, Value)> {
    let s = |x: &str| x.to_string();
    let nested = Array::Array(vec![
        Array::String(vec![s("a"), s("")]),
        Array::U8(vec![]),
        Array::Array(vec![Array::F64(vec![1.5, -2.25]), Array::Bool(vec![true])]),
    ]);
    let mut deep = Array::I16(vec![-7]);
    for _ in 1..8 {
        deep = Array::Array(vec![deep]); // 8 levels: the deepest the reader takes
    }
    vec![
        (s("u8"), Value::U8(255)),
        (s("i8"), Value::I8(-128)),
        (s("u16"), Value::U16(65535)),
        (s("i16"), Value::I16(-32768)),
        (s("u32"), Value::U32(u32::MAX)),
        (s("i32"), Value::I32(i32::MIN)),
        (s("f32"), Value::F32(1e-5)),
        (s("f32.tiny"), Value::F32(f32::from_bits(1))),
        (s("f32.inf"), Value::F32(f32::NEG_INFINITY)),
        (s("bool.false"), Value::Bool(false)),
        (s("bool.true"), Value::Bool(true)),
        (s("string"), Value::String(s("héllo\n\"world\" ✓"))),
        (s("string.empty"), Value::String(String::new())),
        (s("u64"), Value::U64(u64::MAX)),
        (s("i64"), Value::I64(i64::MIN)),
        (s("f64"), Value::F64(std::f64::consts::PI)),
        (s("arr.u8"), Value::Array(Array::U8(vec![0, 1, 255]))),
        (s("arr.i8"), Value::Array(Array::I8(vec![-1, 2]))),
        (s("arr.u16"), Value::Array(Array::U16(vec![1, 65535]))),
        (s("arr.i16"), Value::Array(Array::I16(vec![-300]))),
        (s("arr.u32"), Value::Array(Array::U32(vec![7; 9]))),
        (s("arr.i32"), Value::Array(Array::I32(vec![-1, 0, 1]))),
        (s("arr.f32"), Value::Array(Array::F32(vec![0.5, -0.0, 3.4e38]))),
        (s("arr.bool"), Value::Array(Array::Bool(vec![true, false, true]))),
        (s("arr.string"), Value::Array(Array::String(vec![s("<s>"), s(""), s("Ġthe")]))),
        (s("arr.u64"), Value::Array(Array::U64(vec![u64::MAX, 0]))),
        (s("arr.i64"), Value::Array(Array::I64(vec![i64::MAX]))),
        (s("arr.f64"), Value::Array(Array::F64(vec![1e300, -1e-300]))),
        (s("arr.empty"), Value::Array(Array::F32(vec![]))),
        (s("arr.nested"), Value::Array(nested)),
        (s("arr.deep"), Value::Array(deep)),
    ]
}

#[test]
fn every_value_type_round_trips() {
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add_kv(k, v);
    }
    let (_, f) = read(&w);
    assert_eq!(f.version, 3);
    assert_eq!(f.metadata, every_value());
    assert!(f.tensors.is_empty());
    // PartialEq says -0.0 == 0.0: check the bits of the floats too.
    let Some(Array::F32(v)) = f.get("arr.f32").and_then(Value::as_array) else { panic!() };
    assert_eq!(v[1].to_bits(), (-0.0f32).to_bits());
}

#[test]
fn bytes_follow_the_spec() {
    // One u32 key and one 2-element F32 tensor, spelled out from ggml's docs/gguf.md.
    let data = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]; // 1.0, -2.0
    let mut w = GgufWriter::new();
    w.add_kv("n", Value::U32(7)).add_tensor("t", GgmlType::F32, &[2], &data[..]);
    let mut want: Vec<u8> = Vec::new();
    want.extend(b"GGUF");
    want.extend(3u32.to_le_bytes());
    want.extend(1u64.to_le_bytes()); // tensor count
    want.extend(1u64.to_le_bytes()); // kv count
    want.extend(1u64.to_le_bytes());
    want.extend(b"n");
    want.extend(4u32.to_le_bytes()); // GGUF_TYPE_UINT32
    want.extend(7u32.to_le_bytes());
    want.extend(1u64.to_le_bytes());
    want.extend(b"t");
    want.extend(1u32.to_le_bytes()); // n_dims
    want.extend(2u64.to_le_bytes());
    want.extend(0u32.to_le_bytes()); // GGML_TYPE_F32
    want.extend(0u64.to_le_bytes()); // offset
    assert_eq!(want.len(), 74);
    want.resize(96, 0); // padding to 32
    want.extend(data);
    want.resize(128, 0); // the last tensor is padded too
    assert_eq!(w.to_bytes().unwrap(), want);
}

/// F32 [3], F16 [5, 2], Q4_0 [64], Q8_0 [32, 3], Q4_K [256, 2], BF16 [1, 1, 1, 7], Q6_K [256]:
/// sizes from ggml's block tables (Q4_0: 18 bytes per 32, Q8_0: 34, Q4_K: 144 per 256, Q6_K: 210).
fn several_tensors(w: &mut GgufWriter) -> Vec<(&'static str, GgmlType, Vec<u64>, Vec<u8>)> {
    let specs = vec![
        ("a.f32", GgmlType::F32, vec![3], 12),
        ("b.f16", GgmlType::F16, vec![5, 2], 20),
        ("c.q4_0", GgmlType::Q4_0, vec![64], 36),
        ("d.q8_0", GgmlType::Q8_0, vec![32, 3], 102),
        ("e.q4_k", GgmlType::Q4_K, vec![256, 2], 288),
        ("f.bf16", GgmlType::BF16, vec![1, 1, 1, 7], 14),
        ("g.q6_k", GgmlType::Q6_K, vec![256], 210),
    ];
    let out: Vec<_> = specs
        .into_iter()
        .enumerate()
        .map(|(i, (n, ty, dims, size))| (n, ty, dims, noise(size, i as u64 + 1)))
        .collect();
    for (n, ty, dims, data) in &out {
        w.add_tensor(*n, *ty, dims, data.clone());
    }
    out
}

fn check_alignment(alignment: u64) {
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", Value::U32(alignment as u32));
    w.add_kv("general.name", Value::String("x".repeat(5))); // header length not a multiple
    let want = several_tensors(&mut w);
    let (bytes, f) = read(&w);
    assert_eq!(f.alignment, alignment);
    assert_eq!(f.data_offset % alignment, 0);
    assert_eq!(bytes.len() as u64 % alignment, 0);
    assert_eq!(f.tensors.len(), want.len());
    let mut end = 0u64;
    for (t, (name, ty, dims, data)) in f.tensors.iter().zip(&want) {
        assert_eq!((t.name.as_str(), t.ty, &t.dims), (*name, *ty, dims));
        assert_eq!(t.offset % alignment, 0, "{name}");
        // Packed: each tensor at the first aligned offset after the previous one.
        assert_eq!(t.offset, end.div_ceil(alignment) * alignment, "{name}");
        end = t.offset + data.len() as u64;
        assert_eq!(f.tensor_data(t), &data[..], "{name}");
        // Padding is zeros.
        let pad_end = (f.data_offset + end).div_ceil(alignment) * alignment;
        assert!(bytes[(f.data_offset + end) as usize..pad_end as usize].iter().all(|&b| b == 0));
    }
}

#[test]
fn alignment_32() {
    check_alignment(32);
}

#[test]
fn alignment_64() {
    check_alignment(64);
}

#[test]
fn zero_tensors() {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", Value::String("llama".into()));
    let (bytes, f) = read(&w);
    assert!(f.tensors.is_empty());
    assert_eq!(f.metadata, vec![("general.architecture".to_string(), Value::String("llama".into()))]);
    assert_eq!(bytes.len() % 32, 0);
    let (bytes, f) = read(&GgufWriter::new());
    assert_eq!((bytes.len(), f.metadata.len(), f.tensors.len()), (32, 0, 0));
}

#[test]
fn invalid_input_is_refused() {
    let err = |w: &GgufWriter| w.to_bytes().unwrap_err();
    let mut w = GgufWriter::new();
    w.add_kv("k", Value::U8(1)).add_kv("k", Value::U8(2));
    assert!(matches!(err(&w), WriteError::DuplicateKey(k) if k == "k"));
    for a in [Value::U32(0), Value::U32(48), Value::String("32".into())] {
        let mut w = GgufWriter::new();
        w.add_kv("general.alignment", a);
        assert!(matches!(err(&w), WriteError::BadAlignment(_)));
    }
    let mut w = GgufWriter::new();
    w.add_tensor("t", GgmlType::F32, &[1], vec![0; 4]).add_tensor("t", GgmlType::F32, &[1], vec![0; 4]);
    assert!(matches!(err(&w), WriteError::DuplicateTensor(_)));
    for dims in [vec![], vec![0], vec![1, 1, 1, 1, 1]] {
        let mut w = GgufWriter::new();
        w.add_tensor("t", GgmlType::F32, &dims, vec![]);
        assert!(matches!(err(&w), WriteError::BadDims { .. }), "{dims:?}");
    }
    let mut w = GgufWriter::new();
    w.add_tensor("t", GgmlType::Q4_0, &[33], vec![0; 18]);
    assert!(matches!(err(&w), WriteError::BadShape { .. }));
    let mut w = GgufWriter::new();
    w.add_tensor("t", GgmlType::F32, &[u64::MAX, 2], vec![]);
    assert!(matches!(err(&w), WriteError::BadShape { .. }));
    let mut w = GgufWriter::new();
    w.add_tensor("t", GgmlType::F16, &[3], vec![0; 5]);
    assert!(matches!(err(&w), WriteError::DataSize { got: 5, want: 6, .. }));
    let mut deep = Array::U8(vec![1]);
    for _ in 0..8 {
        deep = Array::Array(vec![deep]); // 9 levels
    }
    let mut w = GgufWriter::new();
    w.add_kv("deep", Value::Array(deep));
    assert!(matches!(err(&w), WriteError::TooDeep(_)));
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Re-write `path` from what we read: same metadata, same tensors and data. Returns whether the
/// whole file came out byte-identical.
fn rewrite(path: &Path) -> bool {
    let original = std::fs::read(path).unwrap();
    let f = GgufFile::open(path).unwrap();
    let bytes = GgufWriter::from_file(&f).to_bytes().unwrap();
    let g = GgufFile::from_bytes(bytes.clone()).unwrap();
    assert_eq!(g.metadata, f.metadata, "{}", path.display());
    assert_eq!(g.tensors.len(), f.tensors.len());
    for (a, b) in f.tensors.iter().zip(&g.tensors) {
        assert_eq!((&a.name, a.ty, &a.dims), (&b.name, b.ty, &b.dims));
        assert!(f.tensor_data(a) == g.tensor_data(b), "{}: {}", path.display(), a.name);
    }
    bytes == original
}

#[test]
fn rewriting_files_of_other_writers() {
    // llama-quantize's tiny models, the gguf package's quant fixtures and bad models: the same
    // layout rules, so the very same bytes.
    for dir in ["models-tiny", "fixtures/quant", "bad-models"] {
        for entry in std::fs::read_dir(data_dir().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "gguf") {
                assert!(rewrite(&p), "{} re-written is not byte-identical", p.display());
            }
        }
    }
    // Older llama.cpp vocab files do not pad an empty data section: metadata equal is enough.
    rewrite(&data_dir().join("vocab/ggml-vocab-llama-spm.gguf"));
}

#[test]
fn rewriting_a_real_model() {
    let dir = std::env::var_os("VIBRANT_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if !path.exists() {
        eprintln!("skipped: {} is missing (scripts/fetch-models.sh smollm2)", path.display());
        return;
    }
    assert!(rewrite(&path), "SmolLM2 re-written is not byte-identical");
}
