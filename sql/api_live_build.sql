-- The live build's id; no row before the first load.
SELECT id FROM elier.builds WHERE state = 'live'
