-- The loader NOTIFYs this channel, with the new build's id as payload, in the
-- transaction that swaps a build in.
LISTEN elier_build
