mod support;

mod cache;
mod check;
mod faults;
mod policy;
mod scan;
