package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/config"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/server"
)

// seedPassword is the demo accounts' password; printed, never for production.
const seedPassword = "Password123"

// seed makes a small demo world so GraphiQL shows something at once. It
// runs once: a second run finds the demo admin and stops.
func seed(ctx context.Context, cfg *config.Config, logger *slog.Logger, stdout io.Writer) error {
	if cfg.Production() {
		return fmt.Errorf("seed refuses to run with APP_ENV=production")
	}
	app, err := server.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	if n, err := app.Client.User.Query().Where(user.Email("admin@jobsphere.test")).Count(ctx); err != nil || n > 0 {
		if err == nil {
			fmt.Fprintln(stdout, "demo data already present")
		}
		return err
	}
	if _, err := app.Auth.CreateAdmin(ctx, "admin@jobsphere.test", seedPassword, "Demo Admin"); err != nil {
		return err
	}
	customer, err := app.Auth.Register(ctx, auth.RegisterInput{
		Email: "customer@jobsphere.test", Password: seedPassword, Name: "Casey Customer", Role: role.Customer,
	})
	if err != nil {
		return err
	}
	contractor, err := app.Auth.Register(ctx, auth.RegisterInput{
		Email: "contractor@jobsphere.test", Password: seedPassword, Name: "Robin Contractor", Role: role.Contractor,
	})
	if err != nil {
		return err
	}
	job, err := app.Client.Job.Create().
		SetTitle("Fix a leaking kitchen tap").
		SetDescription("The kitchen mixer tap drips constantly; replace the cartridge or the tap.").
		SetBudget(100 * pow10(cfg.Currency.Exponent)).
		SetCategory("Plumbing").SetLocation("Remote").
		SetPostedByID(customer.User.ID).
		Save(ctx)
	if err != nil {
		return err
	}
	if err := app.Client.JobApplication.Create().
		SetJobID(job.ID).SetContractorID(contractor.User.ID).
		SetCoverLetter("Licensed plumber, can come this week.").
		Exec(ctx); err != nil {
		return err
	}
	printSeeded(stdout, customer.User, contractor.User, job)
	return nil
}

func printSeeded(w io.Writer, customer, contractor *ent.User, job *ent.Job) {
	fmt.Fprintf(w, "demo data created (password for every account: %s)\n", seedPassword)
	fmt.Fprintln(w, "  admin       admin@jobsphere.test")
	fmt.Fprintf(w, "  customer    %s (%s)\n", customer.Email, customer.ID)
	fmt.Fprintf(w, "  contractor  %s (%s)\n", contractor.Email, contractor.ID)
	fmt.Fprintf(w, "  job         %q (%s)\n", job.Title, job.ID)
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
