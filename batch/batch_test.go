package batch_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent"

	"github.com/jobsphere/jobsphere/batch"
)

type item struct{ n int }

// read is a query that returns items, through the recorder.
func read(ctx context.Context, items []*item) {
	q := batch.Recorder[item]().Intercept(ent.QuerierFunc(func(context.Context, ent.Query) (ent.Value, error) { return items, nil }))
	if _, err := q.Query(ctx, nil); err != nil {
		panic(err)
	}
}

// TestLoadFetchesOncePerGroup: the objects one query returned are fetched
// for together, once per name, however many ask at once; an object of no
// query, or outside a scope, is fetched alone.
func TestLoadFetchesOncePerGroup(t *testing.T) {
	ctx := batch.WithScope(context.Background())
	page := []*item{{1}, {2}, {3}}
	read(ctx, page)
	var fetches, fetched atomic.Int32
	double := func(_ context.Context, objs []*item) ([]int, error) {
		fetches.Add(1)
		fetched.Add(int32(len(objs)))
		out := make([]int, len(objs))
		for i, o := range objs {
			out[i] = 2 * o.n
		}
		return out, nil
	}
	var wg sync.WaitGroup
	for _, it := range page {
		wg.Go(func() {
			if got, err := batch.Load(ctx, "double", it, double); err != nil || got != 2*it.n {
				t.Errorf("Load(%d) = %d, %v; want %d", it.n, got, err, 2*it.n)
			}
		})
	}
	wg.Wait()
	if fetches.Load() != 1 || fetched.Load() != 3 {
		t.Errorf("%d fetches of %d objects for a group of 3, want 1 of 3", fetches.Load(), fetched.Load())
	}
	if _, err := batch.Load(ctx, "again", page[0], double); err != nil || fetches.Load() != 2 {
		t.Errorf("another name: %d fetches, %v; want a fetch of its own", fetches.Load(), err)
	}
	for what, ctx := range map[string]context.Context{"of no query": ctx, "outside a scope": context.Background()} {
		before := fetched.Load()
		if got, err := batch.Load(ctx, "double", &item{5}, double); err != nil || got != 10 || fetched.Load()-before != 1 {
			t.Errorf("an object %s: %d, %v, %d fetched; want 10 fetched alone", what, got, err, fetched.Load()-before)
		}
	}
	if _, err := batch.Load(ctx, "short", page[1], func(context.Context, []*item) ([]int, error) { return []int{1}, nil }); err == nil {
		t.Error("a fetch that answered for 1 of 3 objects passed")
	}
}
