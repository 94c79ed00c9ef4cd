//! Recursive types need no bound on themselves.
#![deny(warnings)]

use ebpf_spec::DeepCopy;

#[derive(DeepCopy, Debug, PartialEq)]
struct List {
    value: u32,
    next: Option<Box<Self>>,
}

#[derive(DeepCopy, Debug, PartialEq)]
struct Tree<T> {
    value: T,
    children: Vec<Tree<T>>,
}

#[derive(DeepCopy, Debug, PartialEq)]
enum Expr {
    Leaf(i64),
    Add(Box<Expr>, Box<Expr>),
    Call { name: String, args: Vec<Expr> },
}

fn main() {
    let list = List {
        value: 1,
        next: Some(Box::new(List {
            value: 2,
            next: None,
        })),
    };
    assert_eq!(list.deep_copy(), list);

    let tree = Tree {
        value: "root".to_string(),
        children: vec![Tree {
            value: "leaf".to_string(),
            children: vec![],
        }],
    };
    assert_eq!(tree.deep_copy(), tree);

    let expr = Expr::Call {
        name: "f".into(),
        args: vec![Expr::Add(Box::new(Expr::Leaf(1)), Box::new(Expr::Leaf(2)))],
    };
    assert_eq!(expr.deep_copy(), expr);
}
