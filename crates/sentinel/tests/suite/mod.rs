mod support;

mod cache;
mod check;
mod eval;
mod faults;
mod policy;
mod scan;
