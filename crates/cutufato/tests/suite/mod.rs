mod log_util;

mod log_cli;
