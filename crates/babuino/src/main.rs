fn main() -> std::process::ExitCode {
    babuino::cli::main()
}
