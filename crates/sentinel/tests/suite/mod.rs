mod support;

mod advisory;
mod advisory_cli;
mod advisory_online;
mod cache;
mod check;
mod eval;
mod faults;
mod live;
mod policy;
mod scan;
