package market

// WithCardRefunder returns the marketplace over the same database, clock
// and configuration as s, refunding cards through r: for tests that script
// Stripe's answers to refunds.
func (s *Service) WithCardRefunder(r CardRefunder) *Service {
	c := *s
	c.refunder = r
	return &c
}
