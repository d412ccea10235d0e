//! Writes a simple PDF from a text file: one PDF line per text line, a form feed starts a new page.
//!
//! `cargo run -p cutufato --example text_to_pdf -- IN.txt OUT.pdf`
//!
//! Used to build `examples/attribution/contract_2024.pdf` from `contract_2024.txt`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: text_to_pdf IN.txt OUT.pdf");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("text_to_pdf: cannot read {input}: {e}");
            return ExitCode::from(2);
        }
    };
    let pages: Vec<Vec<&str>> = text.split('\x0C').map(|p| p.lines().collect()).collect();
    match cutufato::documents::pdf::text_pdf(&pages).map(|pdf| std::fs::write(output, pdf)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("text_to_pdf: cannot write {output}: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("text_to_pdf: {e}");
            ExitCode::from(70)
        }
    }
}
