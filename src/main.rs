fn main() -> std::process::ExitCode {
    pacs_warden::shell::cli::main()
}
