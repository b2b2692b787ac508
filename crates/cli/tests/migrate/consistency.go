// Checks with golang.org/x/mod (sumdb/note, sumdb/tlog), independently of bintrail, that a
// log's checkpoint from before a migration is consistent with one taken after it, reading
// the tiles the migrated log serves. Reads four lines on stdin: the log's verifier key, the
// old and the new checkpoint note (each base64), and the log's base URL. Prints
// "ok OLD NEW" when both notes verify and the consistency proof, built from tiles that
// tlog.TileHashReader authenticates against the new checkpoint, checks.
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type httpTiles struct{ base string }

func (h httpTiles) Height() int { return 8 }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		// x/mod names tiles tile/H/L/N; C2SP tlog-tiles leaves the height out.
		path := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
		resp, err := http.Get(h.base + "/" + path)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		out[i] = data
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func open(b64 string, v note.Verifier) tlog.Tree {
	msg, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		fail(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail(err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 || lines[0] != v.Name() {
		fail(fmt.Errorf("not a checkpoint of %s: %q", v.Name(), n.Text))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail(err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail(err)
	}
	return tlog.Tree{N: size, Hash: root}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []string
	for in.Scan() {
		lines = append(lines, in.Text())
	}
	if len(lines) != 4 {
		fail(fmt.Errorf("want 4 input lines, got %d", len(lines)))
	}
	v, err := note.NewVerifier(lines[0])
	if err != nil {
		fail(err)
	}
	old, new := open(lines[1], v), open(lines[2], v)
	r := tlog.TileHashReader(new, httpTiles{lines[3]})
	proof, err := tlog.ProveTree(new.N, old.N, r)
	if err != nil {
		fail(err)
	}
	if err := tlog.CheckTree(proof, new.N, new.Hash, old.N, old.Hash); err != nil {
		fail(err)
	}
	fmt.Println("ok", old.N, new.N)
}
