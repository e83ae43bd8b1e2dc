//! Fuzz the GGUF reader: any bytes must give Ok or Err, never a panic, a hang or an allocation
//! the file cannot justify. What it accepts must have every tensor inside the file, and must
//! survive a writer round trip unchanged (the writer only makes files the reader accepts).

#![no_main]

use gguf::{GgufFile, GgufWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else { return };
    for t in &file.tensors {
        assert_eq!(file.tensor_data(t).len() as u64, t.size);
        assert!(file.tensor(&t.name).is_some());
    }
    for (key, _) in &file.metadata {
        assert!(file.get(key).is_some());
    }
    // Round trip, unless the (valid) alignment would pad the header to an absurd size.
    if file.alignment > 4096 {
        return;
    }
    let once = GgufWriter::from_file(&file).to_bytes().expect("the writer takes what the reader accepted");
    let again = GgufFile::from_bytes(once.clone()).expect("the reader takes what the writer wrote");
    assert_eq!(again.tensors.len(), file.tensors.len());
    for (a, b) in file.tensors.iter().zip(&again.tensors) {
        assert_eq!((&a.name, a.ty, &a.dims), (&b.name, b.ty, &b.dims));
        assert_eq!(file.tensor_data(a), again.tensor_data(b));
    }
    // Compared as bytes, not values: NaN metadata is not equal to itself.
    let twice = GgufWriter::from_file(&again).to_bytes().expect("second write");
    assert_eq!(once, twice);
});
