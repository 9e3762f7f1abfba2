package market

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// CreateJobInput is a new job.
type CreateJobInput struct {
	Title, Description string
	Budget             int64
	Category, Location *string
}

// CreateJob posts a job; customers only.
func (s *Service) CreateJob(ctx context.Context, v auth.Viewer, in CreateJobInput) (*ent.Job, error) {
	if err := requireRole(v, role.Customer); err != nil {
		return nil, err
	}
	title, desc := strings.TrimSpace(in.Title), strings.TrimSpace(in.Description)
	var fields []jobsphere.FieldError
	if n := utf8.RuneCountInString(title); n < 3 || n > 150 {
		fields = append(fields, jobsphere.FieldError{Field: "title", Message: "Title must be between 3 and 150 characters"})
	}
	if n := utf8.RuneCountInString(desc); n < 10 || n > 5000 {
		fields = append(fields, jobsphere.FieldError{Field: "description", Message: "Description must be between 10 and 5000 characters"})
	}
	if in.Budget <= 0 || in.Budget > ledger.MaxAmount {
		fields = append(fields, jobsphere.FieldError{Field: "budget", Message: "Budget must be positive"})
	}
	fields = append(fields, jobsphere.TooLong(
		jobsphere.TextLimit{Field: "category", Label: "Category", Text: trimmed(in.Category), Max: jobsphere.MaxLabelLength},
		jobsphere.TextLimit{Field: "location", Label: "Location", Text: trimmed(in.Location), Max: jobsphere.MaxPlaceLength})...)
	if len(fields) > 0 {
		return nil, jobsphere.InvalidInput(fields...)
	}
	return s.client.Job.Create().
		SetTitle(title).SetDescription(desc).SetBudget(in.Budget).
		SetNillableCategory(trimmed(in.Category)).SetNillableLocation(trimmed(in.Location)).
		SetPostedByID(v.UserID).Save(ctx)
}

func trimmed(p *string) *string {
	if p == nil {
		return nil
	}
	t := strings.TrimSpace(*p)
	if t == "" {
		return nil
	}
	return &t
}

// Job returns a job; jobs are visible to every signed-in user.
func (s *Service) Job(ctx context.Context, id pulid.ID) (*ent.Job, error) {
	j, err := s.client.Job.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return j, err
}

// ApplyInput is a contractor's application.
type ApplyInput struct {
	JobID          pulid.ID
	CoverLetter    *string
	ProposedAmount *int64
}

// Apply records a contractor's application to an open job, once.
func (s *Service) Apply(ctx context.Context, v auth.Viewer, in ApplyInput) (*ent.JobApplication, error) {
	jobID, coverLetter, proposed := in.JobID, in.CoverLetter, in.ProposedAmount
	if err := requireRole(v, role.Contractor); err != nil {
		return nil, err
	}
	if proposed != nil && (*proposed <= 0 || *proposed > ledger.MaxAmount) {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "proposedAmount", Message: "Proposed amount must be positive"})
	}
	if err := jobsphere.CheckLengths(jobsphere.TextLimit{Field: "coverLetter", Label: "Cover letter",
		Text: trimmed(coverLetter), Max: jobsphere.MaxProseLength}); err != nil {
		return nil, err
	}
	var a *ent.JobApplication
	err := s.tx(ctx, func(tx *ent.Tx) error {
		// Under the job's lock: an accept that assigns the job meanwhile,
		// and turns the other applications down, comes before or after.
		j, err := s.lockJob(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if j.Status != job.StatusOPEN {
			return jobsphere.Errorf(jobsphere.Conflict, "Job is not open for applications (it is %s)", j.Status)
		}
		a, err = tx.JobApplication.Create().
			SetJobID(jobID).SetContractorID(v.UserID).
			SetNillableCoverLetter(trimmed(coverLetter)).SetNillableProposedAmount(proposed).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return jobsphere.Errorf(jobsphere.Conflict, "You have already applied to this job")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("apply to job %s: %w", jobID, err)
	}
	return a.Unwrap(), nil
}

// UpdateJobStatus moves a job by the seeds' transitions. Only IN_PROGRESS
// is moved here (by the customer or the assigned contractor, from
// ASSIGNED); ASSIGNED comes from acceptOffer, COMPLETED from completeJob,
// CANCELLED from cancelJob, which this delegates to.
func (s *Service) UpdateJobStatus(ctx context.Context, v auth.Viewer, jobID pulid.ID, to job.Status) (*ent.Job, error) {
	j, err := s.client.Job.Get(ctx, jobID)
	if ent.IsNotFound(err) {
		return nil, notFound("Job")
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", jobID, err)
	}
	switch to {
	case job.StatusCANCELLED:
		res, err := s.CancelJob(ctx, v, jobID, nil)
		if err != nil {
			return nil, err
		}
		return res.Job, nil
	case job.StatusIN_PROGRESS:
		if !isPartyOfJob(v, j) {
			return nil, auth.NotAuthorized()
		}
		err := s.tx(ctx, func(tx *ent.Tx) error {
			if err := moveJob(ctx, tx, jobID, to, nil, func(st job.Status) error { return jobConflict(st, to) }); err != nil {
				return err
			}
			return s.publishJobTx(ctx, tx, jobID, j.PostedByID, deref(j.ContractorID))
		})
		if err != nil {
			return nil, fmt.Errorf("move job %s to %s: %w", jobID, to, err)
		}
		return s.client.Job.Get(ctx, jobID)
	}
	if !isPartyOfJob(v, j) && !v.IsAdmin() {
		return nil, auth.NotAuthorized()
	}
	return nil, jobConflict(j.Status, to)
}

// lockJob reads the job with its row lock, for the rest of tx. Every
// transaction that changes a job, its offers, its contract or its escrow
// takes this lock first (the lock order: job, then offers, contract and
// escrow, then ledger accounts and wallets), so two of them for one job
// queue instead of deadlocking, and the later one reads what the earlier
// one committed: after waiting for the lock, PostgreSQL reads the row as
// committed. The caller checks the job's status on the row it returns.
func (s *Service) lockJob(ctx context.Context, tx *ent.Tx, id pulid.ID) (*ent.Job, error) {
	j, err := tx.Job.Query().Where(job.ID(id)).Modify(func(s *entsql.Selector) { lockRows(s) }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notFound("Job")
	}
	if err != nil {
		return nil, fmt.Errorf("lock job %s: %w", id, err)
	}
	return j, nil
}

// joinLockedJob joins a query's rows to their job (jobID: the column that
// holds its id) and takes the job's row lock (lockJob's) in the same
// statement; it returns the job's table, to select from. The statements
// after it see what the lock waited for, as after lockJob; the row read
// with it is as of the statement's start (its moves check it again).
func joinLockedJob(s *entsql.Selector, jobID string) *entsql.SelectTable {
	j := entsql.Table(job.Table).As("j")
	s.Join(j).On(jobID, j.C(job.FieldID))
	lockRows(s, entsql.WithLockTables("j"))
	return j
}

// lockRows reads a query's rows FOR NO KEY UPDATE (of the tables opts
// name; all by default), the lock an UPDATE of them takes, so that it
// does not block the KEY SHARE locks of rows that refer to them. SQLite
// has no row locks and needs none: its transactions begin IMMEDIATE, one
// writer at a time.
func lockRows(s *entsql.Selector, opts ...entsql.LockOption) {
	if s.Dialect() != dialect.SQLite {
		s.For(entsql.LockNoKeyUpdate, opts...)
	}
}

// jobConflict explains a refused move to status to of a job in status now.
func jobConflict(now, to job.Status) error {
	hint := map[job.Status]string{
		job.StatusASSIGNED:  "a job is assigned by accepting an offer",
		job.StatusCOMPLETED: "a job is completed with completeJob",
		job.StatusOPEN:      "a job never returns to OPEN",
	}[to]
	if hint != "" {
		hint = "; " + hint
	}
	return jobsphere.Errorf(jobsphere.Conflict, "Job is %s and cannot move to %s%s", now, to, hint)
}
