//! RFC 6962 / RFC 9162 Merkle tree math: hashing, roots, inclusion and consistency proofs.
//!
//! Pure functions over a [`HashReader`] that returns the hash of a complete ("perfect") subtree
//! aligned at its own size. Storage lives elsewhere ([`crate::store`]); tests use a `Vec`.
//! Proof generation needs O(log n) node reads because every node a proof uses is either a stored
//! complete subtree or the root of a right-edge subtree made of at most log2(n) complete ones.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Errors of proof generation and verification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError {
    #[error("index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {size1} is larger than tree size {size2}")]
    SizeOrder { size1: u64, size2: u64 },
    #[error("node missing from storage (level {level}, index {index})")]
    MissingNode { level: u8, index: u64 },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("proof has the wrong number of hashes: {got}, expected {want}")]
    ProofLength { got: usize, want: usize },
    #[error("calculated root does not match the expected root")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Read access to the hashes of complete subtrees: `node(level, index)` is the root of the
/// subtree of `2^level` leaves starting at leaf `index << level`.
pub trait HashReader {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MerkleError>;
}

impl HashReader for Vec<Vec<Hash>> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        self.get(level as usize)
            .and_then(|l| l.get(index as usize))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

impl HashReader for std::collections::HashMap<(u8, u64), Hash> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        self.get(&(level, index))
            .copied()
            .ok_or(MerkleError::MissingNode { level, index })
    }
}

/// A reader that only notes which nodes were asked for, so storage can fetch them in one query.
#[derive(Debug, Default)]
pub struct Recorder(std::cell::RefCell<Vec<(u8, u64)>>);

impl Recorder {
    pub fn take(self) -> Vec<(u8, u64)> {
        self.0.into_inner()
    }
}

impl HashReader for Recorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash, MerkleError> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:end]) for a range that arises in the RFC 6962 recursion (start aligned).
pub fn subtree_root<R: HashReader + ?Sized>(
    r: &R,
    start: u64,
    end: u64,
) -> Result<Hash, MerkleError> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return r.node(n.trailing_zeros() as u8, start >> n.trailing_zeros());
    }
    let k = split(n);
    let left = subtree_root(r, start, start + k)?;
    let right = subtree_root(r, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// Root hash of the tree of the first `size` leaves.
pub fn root<R: HashReader + ?Sized>(r: &R, size: u64) -> Result<Hash, MerkleError> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    subtree_root(r, 0, size)
}

/// RFC 6962 audit path of leaf `index` in the tree of size `size`, leaf side first.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    r: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(r, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<R: HashReader + ?Sized>(
    r: &R,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(r, m, start, start + k, out)?;
        out.push(subtree_root(r, start + k, end)?);
    } else {
        path(r, m - k, start + k, end, out)?;
        out.push(subtree_root(r, start, start + k)?);
    }
    Ok(())
}

/// RFC 6962 consistency proof between the trees of sizes `size1` and `size2`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    r: &R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::SizeOrder { size1, size2 });
    }
    let mut out = Vec::new();
    if size1 == 0 || size1 == size2 {
        return Ok(out);
    }
    subproof(r, size1, 0, size2, true, &mut out)?;
    Ok(out)
}

fn subproof<R: HashReader + ?Sized>(
    r: &R,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree_root(r, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(r, m, start, start + k, whole, out)?;
        out.push(subtree_root(r, start + k, end)?);
    } else {
        subproof(r, m - k, start + k, end, false, out)?;
        out.push(subtree_root(r, start, start + k)?);
    }
    Ok(())
}

/// Root implied by an inclusion proof (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(MerkleError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::ProofLength {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    Ok(r)
}

/// Number of hashes in the inclusion proof of `index` in a tree of `size`.
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if &root_from_inclusion(index, size, leaf, proof)? == root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Checks that the tree (`size2`, `root2`) extends the tree (`size1`, `root1`) (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), MerkleError> {
    if size1 > size2 {
        return Err(MerkleError::SizeOrder { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    if size1 == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(MerkleError::ProofLength { got: 0, want: 1 });
    }
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    // Skip the common right-edge levels; a power-of-two old tree starts from its own root.
    let shift = fn_.trailing_ones();
    fn_ >>= shift;
    sn >>= shift;
    let (seed, rest) = if size1.is_power_of_two() {
        (*root1, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let want = rest.len();
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::ProofLength {
                got: proof.len(),
                want,
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    if &fr != root1 || &sr != root2 {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the complete subtrees for the set bits of `size`, largest
/// first. Appending a leaf yields every complete node it finishes, so storage can keep them.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    stack: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from stored complete subtrees.
    pub fn load<R: HashReader + ?Sized>(r: &R, size: u64) -> Result<Self, MerkleError> {
        let mut stack = Vec::new();
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                let start = (size >> (level + 1)) << (level + 1);
                stack.push(r.node(level, start >> level)?);
            }
        }
        Ok(Self { size, stack })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; `emit(level, index, hash)` receives every complete node created.
    pub fn push(&mut self, leaf: Hash, mut emit: impl FnMut(u8, u64, &Hash)) {
        let mut h = leaf;
        let mut level = 0u8;
        let mut idx = self.size;
        emit(0, idx, &h);
        while idx & 1 == 1 {
            let Some(left) = self.stack.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            idx >>= 1;
            emit(level, idx, &h);
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// Root of the current tree.
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(first) = it.next() else {
            return EMPTY_ROOT;
        };
        it.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        leaf_inputs: Vec<String>,
        roots: Vec<String>,
        node_hashes: Vec<Vec<String>>,
        inclusion_proofs: Vec<Incl>,
        consistency_proofs: Vec<Cons>,
    }
    #[derive(Deserialize)]
    struct Incl {
        leaf_index: u64,
        tree_size: u64,
        proof: Vec<String>,
    }
    #[derive(Deserialize)]
    struct Cons {
        size1: u64,
        size2: u64,
        proof: Vec<String>,
    }

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../tests/fixtures/rfc6962-vectors.json")).unwrap()
    }

    /// Builds the stored tree the way the log does: push every leaf through a frontier.
    fn build(leaves: &[Vec<u8>]) -> (Vec<Vec<Hash>>, Frontier) {
        let mut nodes: Vec<Vec<Hash>> = vec![Vec::new(); 64];
        let mut f = Frontier::new();
        for l in leaves {
            f.push(leaf_hash(l), |level, idx, hash| {
                let lv = &mut nodes[level as usize];
                assert_eq!(lv.len() as u64, idx);
                lv.push(*hash);
            });
        }
        (nodes, f)
    }

    fn leaves() -> Vec<Vec<u8>> {
        vectors()
            .leaf_inputs
            .iter()
            .map(|s| hex::decode(s).unwrap())
            .collect()
    }

    #[test]
    fn roots_and_nodes_match_published_vectors() {
        let v = vectors();
        let leaves = leaves();
        assert_eq!(root(&Vec::<Vec<Hash>>::new(), 0).unwrap(), h(&v.roots[0]));
        for size in 1..=leaves.len() {
            let (nodes, f) = build(&leaves[..size]);
            assert_eq!(f.root(), h(&v.roots[size]), "frontier root at size {size}");
            assert_eq!(
                root(&nodes, size as u64).unwrap(),
                h(&v.roots[size]),
                "stored root {size}"
            );
        }
        let (nodes, _) = build(&leaves);
        for (level, row) in v.node_hashes.iter().enumerate() {
            for (i, want) in row.iter().enumerate() {
                assert_eq!(nodes.node(level as u8, i as u64).unwrap(), h(want));
            }
        }
    }

    #[test]
    fn inclusion_proofs_match_published_vectors_and_verify() {
        let v = vectors();
        let leaves = leaves();
        let (nodes, _) = build(&leaves);
        for p in &v.inclusion_proofs {
            let index = p.leaf_index;
            let want: Vec<Hash> = p.proof.iter().map(|s| h(s)).collect();
            let got = inclusion_proof(&nodes, index, p.tree_size).unwrap();
            assert_eq!(got, want, "proof for {index} in {}", p.tree_size);
            let root = h(&v.roots[p.tree_size as usize]);
            let lh = leaf_hash(&leaves[index as usize]);
            verify_inclusion(index, p.tree_size, &lh, &got, &root).unwrap();
            // Corruptions must fail, as in transparency-dev/merkle's probes.
            let wrong_leaf = leaf_hash(b"WrongLeaf");
            assert!(verify_inclusion(index, p.tree_size, &wrong_leaf, &got, &root).is_err());
            assert!(verify_inclusion(index + 1, p.tree_size, &lh, &got, &root).is_err());
            assert!(verify_inclusion(index, p.tree_size * 2, &lh, &got, &root).is_err());
            assert!(verify_inclusion(index, p.tree_size, &lh, &got, &EMPTY_ROOT).is_err());
            let mut longer = got.clone();
            longer.push(root);
            assert!(verify_inclusion(index, p.tree_size, &lh, &longer, &root).is_err());
            for i in 0..got.len() {
                let mut bad = got.clone();
                bad[i][0] ^= 8;
                assert!(verify_inclusion(index, p.tree_size, &lh, &bad, &root).is_err());
            }
            if !got.is_empty() {
                let short = &got[..got.len() - 1];
                assert!(verify_inclusion(index, p.tree_size, &lh, short, &root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_match_published_vectors_and_verify() {
        let v = vectors();
        let (nodes, _) = build(&leaves());
        for p in &v.consistency_proofs {
            let want: Vec<Hash> = p.proof.iter().map(|s| h(s)).collect();
            let got = consistency_proof(&nodes, p.size1, p.size2).unwrap();
            assert_eq!(got, want, "proof {} -> {}", p.size1, p.size2);
            let r1 = h(&v.roots[p.size1 as usize]);
            let r2 = h(&v.roots[p.size2 as usize]);
            verify_consistency(p.size1, p.size2, &got, &r1, &r2).unwrap();
            if got.is_empty() {
                continue;
            }
            assert!(verify_consistency(p.size1, p.size2, &got, &r2, &r1).is_err());
            assert!(verify_consistency(p.size1, p.size2, &[], &r1, &r2).is_err());
            assert!(verify_consistency(p.size1 + 1, p.size2, &got, &r1, &r2).is_err());
            assert!(verify_consistency(p.size1, p.size2 * 2, &got, &r1, &r2).is_err());
            for i in 0..got.len() {
                let mut bad = got.clone();
                bad[i][0] ^= 16;
                assert!(verify_consistency(p.size1, p.size2, &bad, &r1, &r2).is_err());
            }
            let mut longer = got.clone();
            longer.push(r2);
            assert!(verify_consistency(p.size1, p.size2, &longer, &r1, &r2).is_err());
        }
    }

    #[test]
    fn every_proof_of_a_larger_tree_verifies() {
        let leaves: Vec<Vec<u8>> = (0u32..70).map(|i| i.to_be_bytes().to_vec()).collect();
        let (nodes, _) = build(&leaves);
        for size in 1..=70u64 {
            let r = root(&nodes, size).unwrap();
            for i in 0..size {
                let p = inclusion_proof(&nodes, i, size).unwrap();
                verify_inclusion(i, size, &leaf_hash(&leaves[i as usize]), &p, &r).unwrap();
            }
            for s1 in 0..=size {
                let p = consistency_proof(&nodes, s1, size).unwrap();
                let r1 = root(&nodes, s1).unwrap();
                verify_consistency(s1, size, &p, &r1, &r).unwrap();
            }
        }
    }

    #[test]
    fn frontier_reload_continues_the_same_tree() {
        let leaves: Vec<Vec<u8>> = (0u32..37).map(|i| i.to_le_bytes().to_vec()).collect();
        let (nodes, full) = build(&leaves);
        let (part, _) = build(&leaves[..21]);
        let mut f = Frontier::load(&part, 21).unwrap();
        for l in &leaves[21..] {
            f.push(leaf_hash(l), |_, _, _| {});
        }
        assert_eq!(f.root(), full.root());
        assert_eq!(f.root(), root(&nodes, 37).unwrap());
    }
}
