mod advisory;
mod advisory_cli;
mod advisory_online;
