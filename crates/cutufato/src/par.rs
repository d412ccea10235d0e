//! A small parallel map over slices with scoped threads (signing and verification are CPU-bound
//! per record and independent, while the tree and the database are updated in order).

/// Maps `f(index, item)` over `items` on up to `available_parallelism` threads, keeping order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads <= 1 || items.len() < 64 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, t)| f(c * chunk + j, t))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_indices() {
        let v: Vec<u64> = (0..1000).collect();
        let out = super::par_map(&v, |i, x| (i as u64, x * 2));
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, &(j, y))| j == i as u64 && y == 2 * i as u64)
        );
    }
}
