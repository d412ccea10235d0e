mod log_util;

mod attribution;
mod log_cli;
mod log_go;
mod log_tamper;
