-- Where the messages the service writes first go (a booked call's reminders, follow-ups, a
-- person's reply from the console) when the provider writes the contact's number otherwise than
-- its canonical E.164 form (issue #15: Meta writes Mexican mobiles as 52 1 + ten digits and
-- delivers to that form). The form of the contact's latest message; NULL: the number itself.
-- Append-only.
ALTER TABLE contacts ADD COLUMN address text;
