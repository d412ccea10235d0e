//! HTML view of an attribution: the response beside its sources.
