fn main() -> std::process::ExitCode {
    cutufato::cli::main()
}
