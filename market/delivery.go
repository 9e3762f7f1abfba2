package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/contract"
	"github.com/jobsphere/jobsphere/ent/escrow"
	"github.com/jobsphere/jobsphere/ent/job"
	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/predicate"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/realtime"
)

// MaxDeliveryAttachments is how many uploads one delivery may attach.
const MaxDeliveryAttachments = 20

// AutoReleaseReminderLead is how long before a delivered job's
// auto-release its customer is reminded.
const AutoReleaseReminderLead = 48 * time.Hour

// SubmitWorkInput is a contractor's delivery.
type SubmitWorkInput struct {
	JobID    pulid.ID
	Note     string
	MediaIDs []pulid.ID
}

// Delivery is a job's latest delivery, as its parties see it.
type Delivery struct {
	Note        *string
	Attachments []*ent.Media
	DeliveredAt time.Time
}

// SubmitWork is the assigned contractor's delivery of an IN_PROGRESS job
// whose escrow is held: it records the note and the attachments (the
// contractor's own uploads), sets deliveredAt and autoReleaseAt, and
// tells the parties. Submitting again replaces the delivery and restarts
// the clock: the customer always has AUTO_RELEASE_DAYS to look at what was
// delivered last.
func (s *Service) SubmitWork(ctx context.Context, v auth.Viewer, in SubmitWorkInput) (*ent.Job, error) {
	if err := requireRole(v, role.Contractor); err != nil {
		return nil, err
	}
	note := trimmed(&in.Note)
	fields := jobsphere.TooLong(jobsphere.TextLimit{Field: "note", Label: "Note", Text: note, Max: jobsphere.MaxProseLength})
	ids := distinct(in.MediaIDs)
	if len(ids) > MaxDeliveryAttachments {
		fields = append(fields, jobsphere.FieldError{Field: "mediaIds", Message: fmt.Sprintf("At most %d attachments", MaxDeliveryAttachments)})
	}
	if len(fields) > 0 {
		return nil, jobsphere.InvalidInput(fields...)
	}
	j, err := s.client.Job.Get(ctx, in.JobID)
	if ent.IsNotFound(err) {
		return nil, notFound("Job")
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s: %w", in.JobID, err)
	}
	if !isAssignedContractor(v, j) {
		return nil, auth.NotAuthorized()
	}
	if j.Status != job.StatusIN_PROGRESS {
		return nil, notInProgress(j.Status)
	}
	if err := s.checkOwnUploads(ctx, v, ids); err != nil {
		return nil, err
	}
	now := s.now()
	err = s.tx(ctx, func(tx *ent.Tx) error {
		locked, err := s.lockJob(ctx, tx, j.ID)
		if err != nil {
			return err
		}
		if locked.Status != job.StatusIN_PROGRESS {
			return notInProgress(locked.Status)
		}
		esc, err := tx.Escrow.Query().Where(escrow.HasContractWith(contract.JobID(j.ID))).Only(ctx)
		if err != nil {
			return fmt.Errorf("read escrow of job %s: %w", j.ID, err)
		}
		if esc.Status != escrow.StatusFUNDED {
			return conflict("Escrow", esc.Status)
		}
		u := tx.Job.UpdateOneID(j.ID).SetDeliveredAt(now).SetDeliveryMediaIds(ids).
			SetAutoReleaseAt(now.AddDate(0, 0, s.cfg.AutoReleaseDays)).ClearAutoReleaseRemindedAt()
		if note == nil { // a new delivery replaces the old one whole
			u.ClearDeliveryNote()
		} else {
			u.SetDeliveryNote(*note)
		}
		if err := u.Exec(ctx); err != nil {
			return fmt.Errorf("record delivery of job %s: %w", j.ID, err)
		}
		return s.publishJobTx(ctx, tx, j.ID, j.PostedByID, v.UserID)
	})
	if err != nil {
		return nil, fmt.Errorf("submit work on job %s: %w", j.ID, err)
	}
	return s.client.Job.Get(ctx, j.ID)
}

func notInProgress(now job.Status) error {
	return jobsphere.Errorf(jobsphere.Conflict, "Job is %s; work is submitted on an IN_PROGRESS job", now)
}

// ownUploads is ids without repeats, at most max of them, each the
// viewer's own upload.
func (s *Service) ownUploads(ctx context.Context, v auth.Viewer, ids []pulid.ID, max int) ([]pulid.ID, error) {
	ids = distinct(ids)
	if len(ids) > max {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "mediaIds", Message: fmt.Sprintf("At most %d attachments", max)})
	}
	return ids, s.checkOwnUploads(ctx, v, ids)
}

// checkOwnUploads refuses ids that are not all the viewer's own uploads.
func (s *Service) checkOwnUploads(ctx context.Context, v auth.Viewer, ids []pulid.ID) error {
	if len(ids) == 0 {
		return nil
	}
	own, err := s.client.Media.Query().Where(media.IDIn(ids...), media.OwnerID(v.UserID)).Count(ctx)
	if err != nil {
		return fmt.Errorf("read attachments: %w", err)
	}
	if own != len(ids) { // someone else's or no upload: the same answer
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "mediaIds", Message: "Attachments must be your own uploads"})
	}
	return nil
}

// distinct is ids without repeats, in their first order.
func distinct(ids []pulid.ID) []pulid.ID {
	seen := make(map[pulid.ID]bool, len(ids))
	out := make([]pulid.ID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// AutoRelease completes, as completeJob would, every delivered job whose
// customer neither completed it nor disputed it by its autoReleaseAt: a
// release request, approved by an admin when REQUIRE_RELEASE_APPROVAL is
// on, else released at once. Each job moves in its own transaction under
// its lock and only while still due, so sweepers on several replicas (and
// a customer completing at the same moment) complete it once. It returns
// how many it completed.
//
// Only a FUNDED escrow is auto-released: the release request moves an
// escrow only from FUNDED (escrowMoves), so an escrow that is DISPUTED
// (or already RELEASE_REQUESTED) is never released by the clock.
func (s *Service) AutoRelease(ctx context.Context) (int, error) {
	now := s.now()
	contracts, err := s.client.Contract.Query().Where(
		contract.HasJobWith(job.StatusEQ(job.StatusIN_PROGRESS), job.AutoReleaseAtLTE(now)),
		contract.HasEscrowWith(escrow.StatusEQ(escrow.StatusFUNDED), escrow.CardRefundStartedAtIsNil()),
	).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read jobs due for auto-release: %w", err)
	}
	released := 0
	for _, c := range contracts {
		_, err := s.requestRelease(ctx, c, func(j *ent.Job) error {
			if j.Status != job.StatusIN_PROGRESS || j.AutoReleaseAt == nil || j.AutoReleaseAt.After(now) {
				return errNotDue
			}
			return nil
		})
		switch {
		case err == nil:
			released++
		case jobsphere.ErrorCode(err) == jobsphere.Conflict:
			// another replica, the customer, or a new delivery got there first
		default:
			return released, fmt.Errorf("auto-release job %s: %w", c.JobID, err)
		}
	}
	return released, nil
}

// errNotDue refuses an auto-release of a job that stopped being due
// between the sweeper's read and its lock (completed, or delivered again).
var errNotDue = jobsphere.Errorf(jobsphere.Conflict, "Job is no longer due for auto-release")

// RemindAutoReleases tells each customer, once per delivery, that their
// delivered job completes by itself within AutoReleaseReminderLead: the
// job arrives on the customer's jobStatusChanged feed (event kind
// AUTO_RELEASE_REMINDER). The mark and the event are one conditional
// update's transaction, so with several sweepers each reminder goes out
// once. It returns how many it sent.
func (s *Service) RemindAutoReleases(ctx context.Context) (int, error) {
	now := s.now()
	due := []predicate.Job{
		job.StatusEQ(job.StatusIN_PROGRESS), job.AutoReleaseRemindedAtIsNil(),
		job.AutoReleaseAtLTE(now.Add(AutoReleaseReminderLead)),
		job.HasContractWith(contract.HasEscrowWith(escrow.StatusEQ(escrow.StatusFUNDED))),
	}
	jobs, err := s.client.Job.Query().Where(due...).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read jobs to remind of auto-release: %w", err)
	}
	sent := 0
	for _, j := range jobs {
		err := s.tx(ctx, func(tx *ent.Tx) error {
			n, err := tx.Job.Update().Where(job.ID(j.ID)).Where(due...).SetAutoReleaseRemindedAt(now).Save(ctx)
			if err != nil {
				return fmt.Errorf("mark the reminder of job %s: %w", j.ID, err)
			}
			if n == 0 {
				return errAlreadyMoved
			}
			return s.broker.PublishTx(ctx, tx, realtime.Event{Topic: userTopic(j.PostedByID), Kind: kindAutoReleaseReminder,
				IDs: map[string]string{"job": string(j.ID)}})
		})
		switch {
		case err == nil:
			sent++
		case errors.Is(err, errAlreadyMoved):
			// another replica reminded, or the job moved on
		default:
			return sent, err
		}
	}
	return sent, nil
}
