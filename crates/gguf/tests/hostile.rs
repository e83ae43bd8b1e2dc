//! Hostile inputs: files built with the writer, then cut or edited byte by byte. Each must be
//! an `Err` (never a panic, never accepted) within a second, with a one-line message.

use gguf::{Array, GgmlType, GgufError, GgufFile, GgufWriter, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Parse `bytes`; the reader must refuse them, quickly, without panicking, with the error
/// variant `want` (any variant when empty).
fn refused(case: &str, bytes: Vec<u8>, want: &str) -> GgufError {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| GgufFile::from_bytes(bytes)));
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "{case}: took {took:?}");
    let err = match result {
        Err(_) => panic!("{case}: the reader panicked"),
        Ok(Ok(f)) => panic!("{case}: accepted ({f:?})"),
        Ok(Err(e)) => e,
    };
    let msg = err.to_string();
    assert!(!msg.is_empty() && !msg.contains('\n'), "{case}: message {msg:?}");
    assert!(format!("{err:?}").starts_with(want), "{case}: expected {want}, got {err:?}");
    err
}

/// A small file touching every part of the format: every value type, strings, nested arrays,
/// and three tensors of three types.
fn sample() -> GgufWriter<'static> {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", Value::String("llama".into()))
        .add_kv("u8", Value::U8(1))
        .add_kv("i16", Value::I16(-2))
        .add_kv("u32", Value::U32(3))
        .add_kv("f32", Value::F32(0.5))
        .add_kv("bool", Value::Bool(true))
        .add_kv("u64", Value::U64(4))
        .add_kv("f64", Value::F64(0.25))
        .add_kv("tokens", Value::Array(Array::String(vec!["<s>".into(), "ab".into()])))
        .add_kv("scores", Value::Array(Array::F32(vec![1.0, 2.0])))
        .add_kv("nested", Value::Array(Array::Array(vec![Array::U8(vec![1, 2]), Array::String(vec!["x".into()])])))
        .add_tensor("a", GgmlType::F32, &[4, 2], vec![1u8; 32])
        .add_tensor("b", GgmlType::Q8_0, &[32], vec![2u8; 34])
        .add_tensor("c", GgmlType::F16, &[3], vec![3u8; 6]);
    w
}

fn sample_bytes() -> Vec<u8> {
    sample().to_bytes().unwrap()
}

/// Byte position just after the first occurrence of a length-prefixed `name` (a key or a
/// tensor name): where its type (key) or n_dims (tensor) is.
fn after_name(bytes: &[u8], name: &str) -> usize {
    let mut pat = (name.len() as u64).to_le_bytes().to_vec();
    pat.extend(name.as_bytes());
    let at = bytes.windows(pat.len()).position(|w| w == pat).unwrap_or_else(|| panic!("{name} not found"));
    at + pat.len()
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Field positions in the tensor entry of `name` (n_dims as written by `sample`).
struct Entry {
    n_dims: usize,
    dims: usize,
    ty: usize,
    offset: usize,
}

fn entry(bytes: &[u8], name: &str, n_dims: usize) -> Entry {
    let n = after_name(bytes, name);
    Entry { n_dims: n, dims: n + 4, ty: n + 4 + 8 * n_dims, offset: n + 4 + 8 * n_dims + 4 }
}

/// The sample with one edit.
fn edited(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = sample_bytes();
    edit(&mut b);
    b
}

#[test]
fn the_sample_itself_is_accepted() {
    let f = GgufFile::from_bytes(sample_bytes()).unwrap();
    assert_eq!(f.tensors.len(), 3);
}

#[test]
fn truncated_at_every_byte() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    let c = f.tensor("c").unwrap();
    let header_end = after_name(&bytes, "c") + 4 + 8 + 4 + 8; // end of the tensor table
    let data_end = (f.data_offset + c.offset + c.size) as usize; // the last tensor's last byte
    for len in 0..data_end {
        let err = refused(&format!("cut at {len}"), bytes[..len].to_vec(), "");
        if len < header_end {
            // Errors in the header name an offset inside what is left of the file.
            let offset = match &err {
                GgufError::Truncated { offset, .. } | GgufError::CountTooLarge { offset, .. } => *offset,
                GgufError::BadMagic { .. } => 0,
                other => panic!("cut at {len}: unexpected {other}"),
            };
            assert!(offset <= len as u64, "cut at {len}: {err}");
        }
    }
}

#[test]
fn lying_counts() {
    let huge = [u64::MAX, u64::MAX / 2, 1 << 61, 1 << 40, 1 << 20];
    for h in huge {
        refused("tensor count", edited(|b| put_u64(b, 8, h)), "CountTooLarge");
        refused("kv count", edited(|b| put_u64(b, 16, h)), "CountTooLarge");
        // The length of the first key's string.
        refused("key length", edited(|b| put_u64(b, 24, h)), "Truncated");
        // A string value's length.
        refused("string length", edited(|b| {
            let at = after_name(b, "general.architecture") + 4;
            put_u64(b, at, h)
        }), "Truncated");
        // Array counts: strings, f32s, arrays, and a string inside an array.
        for key in ["tokens", "scores", "nested"] {
            refused(&format!("{key} count"), edited(|b| {
                let at = after_name(b, key) + 4 + 4;
                put_u64(b, at, h)
            }), "CountTooLarge");
        }
        refused("string in array", edited(|b| {
            let at = after_name(b, "tokens") + 4 + 4 + 8;
            put_u64(b, at, h)
        }), "Truncated");
        refused("inner array count", edited(|b| {
            let at = after_name(b, "nested") + 4 + 4 + 8 + 4;
            put_u64(b, at, h)
        }), "CountTooLarge");
        refused("tensor name length", edited(|b| {
            let at = after_name(b, "b") - 1 - 8;
            put_u64(b, at, h)
        }), "Truncated");
    }
    // Plausible but too many: one more tensor or key than the file holds.
    refused("one tensor too many", edited(|b| put_u64(b, 8, 4)), "BadDimCount");
    refused("one key too many", edited(|b| put_u64(b, 16, 12)), "");
}

#[test]
fn offsets_past_the_end() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    let data_len = bytes.len() as u64 - f.data_offset;
    for off in [data_len, data_len + 32, !31, 1 << 63] {
        refused(&format!("offset {off}"), edited(|b| { let at = entry(b, "c", 1).offset; put_u64(b, at, off) }), "TensorOutOfBounds");
    }
    // A tensor whose data would end past the file: grow its shape.
    refused("shape past the end", edited(|b| { let at = entry(b, "c", 1).dims; put_u64(b, at, 1 << 20) }), "TensorOutOfBounds");
    // The data section itself past the end.
    refused("no data section", edited(|b| b.truncate(f.data_offset as usize - 1)), "Truncated");
}

#[test]
fn overlapping_tensors() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(bytes).unwrap();
    let (a, b) = (f.tensor("a").unwrap().offset, f.tensor("b").unwrap().offset);
    refused("same offset", edited(|x| { let at = entry(x, "b", 1).offset; put_u64(x, at, a) }), "OverlappingTensors");
    refused("b over c", edited(|x| { let at = entry(x, "c", 1).offset; put_u64(x, at, b) }), "OverlappingTensors");
    // `a` is 32 bytes: grow it to 64 so it runs into `b` at offset 32.
    assert_eq!(b, 32);
    refused("a grown into b", edited(|x| { let at = entry(x, "a", 2).dims; put_u64(x, at, 8) }), "OverlappingTensors");
}

#[test]
fn misaligned_offsets() {
    for off in [1, 16, 31, 33] {
        refused(&format!("offset {off}"), edited(|b| { let at = entry(b, "a", 2).offset; put_u64(b, at, off) }), "MisalignedTensor");
    }
    // An alignment that is not a power of two, or zero, or of a non-integer type.
    for (value, ty) in [(0u32, 4u32), (3, 4), (48, 4), (32, 8)] {
        let mut w = sample();
        w.add_kv("general.alignment", Value::U32(32));
        let mut b = w.to_bytes().unwrap();
        let at = after_name(&b, "general.alignment");
        put_u32(&mut b, at, ty);
        put_u32(&mut b, at + 4, value);
        refused(&format!("alignment {value} type {ty}"), b, "");
    }
}

#[test]
fn unknown_type_ids() {
    for id in [4, 5, 16, 29, 31, 39, 1000, u32::MAX] {
        refused(&format!("tensor type {id}"), edited(|b| { let at = entry(b, "b", 1).ty; put_u32(b, at, id) }), "UnknownTensorType");
    }
    for id in [13, 100, u32::MAX] {
        refused(&format!("value type {id}"), edited(|b| { let at = after_name(b, "u32"); put_u32(b, at, id) }), "UnknownValueType");
        refused(&format!("array type {id}"), edited(|b| { let at = after_name(b, "scores") + 4; put_u32(b, at, id) }), "UnknownValueType");
        refused(&format!("inner array type {id}"), edited(|b| {
            let at = after_name(b, "nested") + 4 + 4 + 8;
            put_u32(b, at, id)
        }), "UnknownValueType");
    }
    // Bad magic and versions.
    refused("magic", edited(|b| b[0] = b'g'), "BadMagic");
    for v in [0, 1, 4, 0x0300_0000, u32::MAX] {
        refused(&format!("version {v}"), edited(|b| put_u32(b, 4, v)), "UnsupportedVersion");
    }
}

#[test]
fn bad_dims() {
    refused("zero ne0", edited(|b| { let at = entry(b, "a", 2).dims; put_u64(b, at, 0) }), "ZeroDim");
    refused("zero ne1", edited(|b| { let at = entry(b, "a", 2).dims + 8; put_u64(b, at, 0) }), "ZeroDim");
    // ne0 x ne1 overflows u64: 2^33 * 2^32 (a has two dims).
    refused("product overflows", edited(|b| {
        let e = entry(b, "a", 2);
        put_u64(b, e.dims, 1 << 33);
        put_u64(b, e.dims + 8, 1 << 32);
    }), "SizeOverflow");
    refused("product past i64", edited(|b| {
        let e = entry(b, "a", 2);
        put_u64(b, e.dims, 1 << 32);
        put_u64(b, e.dims + 8, 1 << 31);
    }), "SizeOverflow");
    refused("one huge dim", edited(|b| { let at = entry(b, "a", 2).dims; put_u64(b, at, u64::MAX) }), "SizeOverflow");
    // Bytes overflow though elements do not: 2^62 F32 elements.
    refused("bytes overflow", edited(|b| {
        let e = entry(b, "a", 2);
        put_u64(b, e.dims, 1 << 31);
        put_u64(b, e.dims + 8, 1 << 31);
    }), "SizeOverflow");
    for n in [0, 5, 64, u32::MAX] {
        refused(&format!("n_dims {n}"), edited(|b| { let at = entry(b, "a", 2).n_dims; put_u32(b, at, n) }), "BadDimCount");
    }
    // A row that is not a whole number of blocks: Q8_0 with ne0 = 33.
    refused("partial block", edited(|b| { let at = entry(b, "b", 1).dims; put_u64(b, at, 33) }), "RowNotBlockMultiple");
}

#[test]
fn duplicates_and_bad_utf8() {
    refused("duplicate key", edited(|b| {
        let at = after_name(b, "u32") - 3;
        b[at..at + 3].copy_from_slice(b"i16");
    }), "DuplicateKey");
    refused("duplicate tensor", edited(|b| {
        let at = after_name(b, "b") - 1;
        b[at] = b'a';
    }), "DuplicateTensor");
    refused("key utf-8", edited(|b| {
        let at = after_name(b, "u32") - 1;
        b[at] = 0xff;
    }), "InvalidUtf8");
    refused("string utf-8", edited(|b| {
        let at = after_name(b, "general.architecture") + 4 + 8;
        b[at] = 0xc3; // a lead byte followed by 'l'
    }), "InvalidUtf8");
    refused("tensor name utf-8", edited(|b| {
        let at = after_name(b, "c") - 1;
        b[at] = 0x80;
    }), "InvalidUtf8");
}

/// `depth` arrays nested in one another around one u8, as raw bytes of one metadata value.
fn nested_array_bytes(depth: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 1..depth {
        v.extend(9u32.to_le_bytes()); // element type: array
        v.extend(1u64.to_le_bytes());
    }
    v.extend(0u32.to_le_bytes()); // element type: u8
    v.extend(1u64.to_le_bytes());
    v.push(7);
    v
}

/// A file with no tensors and one key "deep" holding `value` of type array.
fn one_array_file(value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(4u64.to_le_bytes());
    b.extend(b"deep");
    b.extend(9u32.to_le_bytes());
    b.extend(value);
    b
}

#[test]
fn nested_array_depth_bombs() {
    // The framing is right: 8 levels are accepted.
    assert!(GgufFile::from_bytes(one_array_file(&nested_array_bytes(8))).is_ok());
    for depth in [9, 100, 100_000] {
        refused(&format!("depth {depth}"), one_array_file(&nested_array_bytes(depth)), "NestedTooDeep");
    }
    // Wide instead of deep: an array of 2^60 empty arrays.
    let mut v = 9u32.to_le_bytes().to_vec();
    v.extend((1u64 << 60).to_le_bytes());
    v.extend(std::iter::repeat_n([0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1000).flatten());
    refused("wide", one_array_file(&v), "CountTooLarge");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
    /// Random byte edits and a random cut: the reader may accept or refuse, but never panics,
    /// and what it accepts has every tensor's data inside the file.
    #[test]
    fn random_edits_never_panic(
        edits in proptest::collection::vec((0usize..700, proptest::prelude::any::<u8>()), 1..6),
        cut in 0usize..800,
    ) {
        let mut b = sample_bytes();
        for (at, byte) in edits {
            let n = b.len();
            b[at % n] = byte;
        }
        b.truncate(cut.max(1));
        if let Ok(f) = GgufFile::from_bytes(b) {
            for t in &f.tensors {
                proptest::prop_assert_eq!(f.tensor_data(t).len() as u64, t.size);
            }
        }
    }
}
