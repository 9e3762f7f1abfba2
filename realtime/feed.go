package realtime

import "context"

// Feed subscribes to a topic and turns its events into values with
// convert (which may drop an event by returning false). The channel is
// closed, and everything released, when ctx ends.
func Feed[T any](ctx context.Context, b Broker, topic string, convert func(Event) (T, bool)) (<-chan T, error) {
	events, err := b.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan T, 1)
	go func() {
		defer close(out)
		for ev := range events {
			v, ok := convert(ev)
			if !ok {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				for range events { // the broker closes events once ctx is done
				}
				return
			}
		}
	}()
	return out, nil
}
