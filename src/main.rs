use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("staywell=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    staywell::cli::run(staywell::cli::Cli::parse()).await
}
