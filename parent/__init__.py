"""parent: Erlang/OTP's process model on Python threads.

Processes with mailboxes, links and monitors (`parent.process`), GenServer
(`parent.gen_server`), Parent, Supervisor (`parent.supervisor`), DynamicSupervisor
(`parent.dynamic_supervisor`), Task and Agent; introspection (`parent.process.info`,
`parent.sys`, `parent.observer`) and the application entry `parent.run`.
This module only re-exports the public names.
"""

from compat._types import ChildType, Restart, Shutdown, Strategy
from parent import dynamic_supervisor, gen_server, observer, process, supervisor, sys, testing
from parent._info import ProcessInfo
from parent._run import run
from parent.agent import Agent
from parent.client import Client
from parent.dynamic_supervisor import DynamicSupervisor
from parent.errors import (
    AlreadyStarted,
    CallTimeout,
    ExitError,
    Ignore,
    Ignored,
    NoProcess,
    NotFound,
    ProcessError,
    StartError,
    Stop,
)
from parent.gen_server import TIMEOUT, Continue, GenServer, Hibernate, NoReply, Timeout
from parent.parent import Parent
from parent.process import Down, Exit, From, Pid, Ref, Server
from parent.supervisor import Supervisor
from parent.task import Ok, Task, TaskRef
from parent.task_supervisor import TaskSupervisor

__all__ = [
    "TIMEOUT",
    "AlreadyStarted",
    "Agent",
    "CallTimeout",
    "Client",
    "ChildType",
    "Continue",
    "Down",
    "DynamicSupervisor",
    "Exit",
    "ExitError",
    "From",
    "GenServer",
    "Hibernate",
    "Ignore",
    "Ignored",
    "NoProcess",
    "NoReply",
    "NotFound",
    "Ok",
    "Parent",
    "Pid",
    "ProcessError",
    "ProcessInfo",
    "Ref",
    "Restart",
    "Server",
    "Shutdown",
    "StartError",
    "Stop",
    "Strategy",
    "Supervisor",
    "Task",
    "TaskRef",
    "TaskSupervisor",
    "Timeout",
    "dynamic_supervisor",
    "gen_server",
    "observer",
    "process",
    "run",
    "supervisor",
    "sys",
    "testing",
]
