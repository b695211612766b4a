fn main() -> std::process::ExitCode {
    pacs_warden::cli::main()
}
