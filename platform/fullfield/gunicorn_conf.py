"""Gunicorn settings for Fullfield: `gunicorn -c python:fullfield.gunicorn_conf ...`.

The access-log format leaves out the HTTP Basic user name (`%(u)s` in gunicorn's default):
Segment's libraries send the write key, a full API key, as that user name. Nothing else in
the line carries a credential: keys travel in headers, never in the request line.
"""

access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
