//! The `nn` command line. Argument parsing lives in `cli/`; this file only
//! hands over and turns the outcome into an exit code.

fn main() -> std::process::ExitCode {
    nn::cli::main()
}
