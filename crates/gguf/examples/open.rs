fn main() {
    for p in std::env::args().skip(1) {
        match gguf::GgufFile::open(&p) {
            Ok(f) => println!("{p}: v{} {} kv {} tensors, data at {}", f.version, f.metadata.len(), f.tensors.len(), f.data_offset),
            Err(e) => println!("{p}: error: {e}"),
        }
    }
}
