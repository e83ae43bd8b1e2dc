//! `vibrant inspect` (stub; being written).

#[derive(clap::Args)]
pub struct Args {
    /// Path to a GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: std::path::PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("vibrant inspect is not implemented yet")
}
