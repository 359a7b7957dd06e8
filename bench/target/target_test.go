package target

import (
	"regexp"
	"strconv"
	"testing"
)

func TestPathShapesAndRanges(t *testing.T) {
	const n = 1000
	shapes := map[string]*regexp.Regexp{
		"list":    regexp.MustCompile(`^/products\?page=(\d+)&count=5$`),
		"product": regexp.MustCompile(`^/products/(\d+)$`),
		"styles":  regexp.MustCompile(`^/products/(\d+)/styles$`),
		"related": regexp.MustCompile(`^/products/(\d+)/related$`),
	}
	for route, re := range shapes {
		for _, dist := range []string{"uniform", "skewed"} {
			p, err := New(route, dist, n, 1)
			if err != nil {
				t.Fatal(err)
			}
			limit := n
			if route == "list" {
				limit = n / PageSize
			}
			seen := map[int]int{}
			for range 20000 {
				path := p.Path()
				m := re.FindStringSubmatch(path)
				if m == nil {
					t.Fatalf("%s %s: path %q", route, dist, path)
				}
				id, _ := strconv.Atoi(m[1])
				if id < 1 || id > limit {
					t.Fatalf("%s %s: %d outside 1..%d", route, dist, id, limit)
				}
				seen[id]++
			}
			// Skewed traffic asks for id 1 far more often than for an id
			// near the end; uniform traffic does not (1/limit each).
			first, last := seen[1], seen[limit-1]+seen[limit]
			if dist == "skewed" && first < 10*(last+1) {
				t.Errorf("%s skewed: id 1 drawn %d times, the last two ids %d", route, first, last)
			}
			if dist == "uniform" && first > 20000/limit*4+10 {
				t.Errorf("%s uniform: id 1 drawn %d times of 20000", route, first)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		route, dist string
		n           int
	}{{"nope", "uniform", 100}, {"styles", "zipf", 100}, {"styles", "uniform", 1}} {
		if _, err := New(c.route, c.dist, c.n, 1); err == nil {
			t.Errorf("New(%q, %q, %d): no error", c.route, c.dist, c.n)
		}
	}
}
