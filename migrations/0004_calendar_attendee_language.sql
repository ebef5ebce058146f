-- The lead's language on a local booking (integrations/calendar/local.py): the invitation emails
-- of a later move or cancellation are written in it, and those know only the booking's id.
-- NULL (bookings made before) means the catalogue's default, English.
ALTER TABLE calendar_bookings ADD COLUMN attendee_language text;
