// Third-party check of cutufato's output with the Go reference code (golang.org/x/mod/sumdb/note
// and sumdb/tlog, Debian package golang-golang-x-mod-dev), not written by us.
//
// usage: verify_checkpoint VERIFIER_KEY SIGNING_KEY CHECKPOINT BUNDLE CONSISTENCY MANIFEST
//   CHECKPOINT   signed tlog-checkpoint (the log's outside checkpoint file)
//   BUNDLE       c2sp.org/tlog-proof@v1 bundle from `cutufato prove` (extra = the leaf)
//   CONSISTENCY  lines: old size, old root (base64), then proof hashes (base64)
//   MANIFEST     manifest.note of an export
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

// openCheckpoint verifies a signed checkpoint and returns size and root.
func openCheckpoint(msg []byte, verifiers note.Verifiers) (int64, tlog.Hash) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint body too short")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	return size, hash(lines[2])
}

func main() {
	if len(os.Args) != 7 {
		fail("usage: verify_checkpoint VKEY SKEY CHECKPOINT BUNDLE CONSISTENCY MANIFEST")
	}
	vkey := strings.TrimSpace(string(read(os.Args[1])))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(v)

	// The private key file must load in Go as well.
	skey := strings.TrimSpace(string(read(os.Args[2])))
	if _, err := note.NewSigner(skey); err != nil {
		fail("NewSigner: %v", err)
	}

	size, root := openCheckpoint(read(os.Args[3]), verifiers)
	fmt.Printf("checkpoint ok: size %d\n", size)

	// Proof bundle: header, extra, index, hashes, blank, checkpoint.
	sc := bufio.NewScanner(bytes.NewReader(read(os.Args[4])))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	sc.Scan()
	if sc.Text() != "c2sp.org/tlog-proof@v1" {
		fail("bundle header")
	}
	sc.Scan()
	leaf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sc.Text(), "extra "))
	if err != nil {
		fail("extra: %v", err)
	}
	sc.Scan()
	index, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "index "), 10, 64)
	if err != nil {
		fail("index: %v", err)
	}
	var proof tlog.RecordProof
	for sc.Scan() && sc.Text() != "" {
		proof = append(proof, hash(sc.Text()))
	}
	var cp bytes.Buffer
	for sc.Scan() {
		cp.WriteString(sc.Text() + "\n")
	}
	bsize, broot := openCheckpoint(cp.Bytes(), verifiers)
	if err := tlog.CheckRecord(proof, bsize, broot, index, tlog.RecordHash(leaf)); err != nil {
		fail("CheckRecord: %v", err)
	}
	fmt.Printf("inclusion ok: index %d in size %d\n", index, bsize)

	// Consistency of an older tree with the checkpoint.
	lines := strings.Split(strings.TrimSpace(string(read(os.Args[5]))), "\n")
	oldSize, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil {
		fail("old size: %v", err)
	}
	oldRoot := hash(lines[1])
	var tp tlog.TreeProof
	for _, l := range lines[2:] {
		tp = append(tp, hash(l))
	}
	if err := tlog.CheckTree(tp, size, root, oldSize, oldRoot); err != nil {
		fail("CheckTree: %v", err)
	}
	fmt.Printf("consistency ok: %d -> %d\n", oldSize, size)

	m, err := note.Open(read(os.Args[6]), verifiers)
	if err != nil {
		fail("manifest note.Open: %v", err)
	}
	if !strings.HasPrefix(m.Text, "{") {
		fail("manifest text is not JSON")
	}
	fmt.Println("manifest ok")
}
