//! The `karpsim` binary: a thin shell over [`karpsim::cli`].

fn main() -> std::process::ExitCode {
    karpsim::cli::main()
}
