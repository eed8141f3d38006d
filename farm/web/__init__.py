"""The job dashboard: server-rendered pages where users watch and steer work.

Views stay thin: each page reads through a query function and each action
calls the same service the API and the admin call. Role checks are the API's
(`farm.services.owners`): the owner of a job or a farm admin changes a job;
farm admins change agents, queues, job types and software. A refused action
shows a message on the page it came from, never a 403 page.
"""
