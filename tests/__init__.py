"""The test suite as a package, so that its helpers are imported by their package path (tests.plugins...)
and test modules of the same name in different folders do not collide."""
