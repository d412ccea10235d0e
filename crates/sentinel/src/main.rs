fn main() -> std::process::ExitCode {
    sentinel::cli::main()
}
