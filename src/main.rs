use clap::Parser;
use gptauth::cli::{Cli, run};
use gptauth::{Config, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A missing .env is fine; the environment wins over it.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gptauth: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&config.log_filter, config.log_json);
    match run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gptauth: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
