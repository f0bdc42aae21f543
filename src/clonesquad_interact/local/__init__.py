"""Running the Interact API on one machine: ``clonesquad-interact serve``.

* :mod:`.sigv4`: the SigV4 check that API Gateway's ``AWS_IAM`` authorizer does;
* :mod:`.deployment`: the resources of a CloneSquad deployment, created and seeded;
* :mod:`.embedded`: moto's server as an embedded AWS (the ``local`` extra);
* :mod:`.backend`: the AWS to run against (embedded, an endpoint, real AWS);
* :mod:`.gateway`: HTTP requests turned into API Gateway events;
* :mod:`.consumer`: the Interact queue consumed as Lambda's event source would;
* :mod:`.serve`: all of it together, until Ctrl-C.

Only :mod:`.embedded` needs more than the core install (moto's server); it is
imported only when an embedded AWS is asked for.
"""
