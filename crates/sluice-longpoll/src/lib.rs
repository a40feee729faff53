//! sluice-longpoll (under construction).
