-- What /metrics reports about freshness: the live build, when it was built,
-- when its export was taken, and when the loader last succeeded (a new
-- build, or an unchanged export found: the scheduled job works) and last
-- failed. Columns are NULL when unknown; no row is missing.
SELECT b.id,
       extract(epoch FROM b.finished_at)::float8,
       (SELECT extract(epoch FROM a.export_taken_at)::float8 FROM elier.load_attempts a
         WHERE a.outcome = 'success' AND a.build_id = b.id ORDER BY a.id DESC LIMIT 1),
       (SELECT extract(epoch FROM max(a.finished_at))::float8 FROM elier.load_attempts a
         WHERE a.outcome IN ('success', 'unchanged')),
       (SELECT extract(epoch FROM max(a.finished_at))::float8 FROM elier.load_attempts a
         WHERE a.outcome = 'failed')
FROM (SELECT 1) AS one
LEFT JOIN elier.builds b ON b.state = 'live'
